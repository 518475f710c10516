"""AWS JSON 1.0/1.1: `POST /` with `X-Amz-Target: <prefix>.<Action>` and a JSON body.

Errors are `{"__type": code, "message": text}` with the error's HTTP status,
which botocore turns into the service's modeled exception class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dockyard.api.context import ApiContext, Handler
from dockyard.api.models import service_model, validate
from dockyard.errors import AwsError, ProtocolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsonService:
    """One AWS service on the JSON protocol: its botocore model and its action handlers."""

    model_name: str
    handlers: Mapping[str, Handler]
    validation_error: str = "InvalidParameterException"

    @property
    def target_prefix(self) -> str:
        return str(service_model(self.model_name).metadata["targetPrefix"])

    @property
    def content_type(self) -> str:
        version = service_model(self.model_name).metadata.get("jsonVersion", "1.1")
        return f"application/x-amz-json-{version}"


def error_response(error: AwsError, content_type: str, request_id: str) -> web.Response:
    body = json.dumps({"__type": error.code, "message": error.message})
    return web.Response(
        status=error.status,
        body=body.encode(),
        content_type=content_type,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )


def decode_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(
            f"Could not parse the request body as JSON: {exc}", code="SerializationException"
        ) from None
    if not isinstance(params, dict):
        raise ProtocolError(
            "The request body must be a JSON object.", code="SerializationException"
        )
    return params


def dispatch(service: JsonService, action: str, body: bytes, ctx: ApiContext) -> tuple[int, bytes]:
    """Run one action; AwsError propagates to the caller, which encodes it."""
    handler = service.handlers.get(action)
    if handler is None:
        raise ProtocolError(
            f"Operation {action} is not supported by this server.",
            code="UnknownOperationException",
        )
    params = decode_body(body)
    model = service_model(service.model_name)
    validate(model.operation_model(action), params, service.validation_error)
    result = handler(ctx, params)
    return 200, json.dumps(result, separators=(",", ":")).encode()
