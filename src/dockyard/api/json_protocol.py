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

from dockyard.api.models import service_model, validate
from dockyard.context import ApiContext, Handler
from dockyard.errors import AwsError, ProtocolError
from dockyard.wire import codec

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
    def query_compatible(self) -> bool:
        """A former query service (CloudWatch): clients read error codes from a header."""
        return "awsQueryCompatible" in service_model(self.model_name).metadata

    @property
    def content_type(self) -> str:
        version = service_model(self.model_name).metadata.get("jsonVersion", "1.1")
        return f"application/x-amz-json-{version}"


def error_response(
    error: AwsError, content_type: str, request_id: str, *, query_compatible: bool = False
) -> web.Response:
    """The JSON error; for awsQueryCompatible services also `x-amzn-query-error:
    Code;Sender`, from which botocore takes the query-protocol code it models."""
    body = json.dumps({"__type": error.code, "message": error.message})
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
    if query_compatible:
        fault = "Sender" if error.sender_fault else "Receiver"
        headers["x-amzn-query-error"] = f"{error.code};{fault}"
    return web.Response(
        status=error.status, body=body.encode(), content_type=content_type, headers=headers
    )


def json_error(error: AwsError) -> web.Response:
    """The same `{"__type", "message"}` body for Dockyard's own HTTP routes (agent package,
    exec sessions, task logs), which no botocore model describes."""
    return web.json_response({"__type": error.code, "message": error.message}, status=error.status)


# Deeper than any AWS input shape; a limit keeps recursive code (the validator, the
# store's JSON encoder) away from Python's recursion limit.
MAX_NESTING = 64


def _nesting(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (iteratively)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
    return deepest


def _serialization_error(message: str) -> ProtocolError:
    return ProtocolError(message, code="SerializationException")


def decode_body(body: bytes) -> dict[str, Any]:
    """The request's parameters; anything that is not a sane JSON object is refused."""
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _serialization_error(f"Could not parse the request body as JSON: {exc}") from None
    except RecursionError:
        raise _serialization_error("The request body nests too deeply.") from None
    if not isinstance(params, dict):
        raise _serialization_error("The request body must be a JSON object.")
    if _nesting(params) > MAX_NESTING:
        raise _serialization_error("The request body nests too deeply.")
    if b"\\u" in body:  # only an escape can smuggle a lone surrogate past UTF-8 decoding
        try:
            json.dumps(params, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _serialization_error(
                "The request body contains an unpaired surrogate (\\uD800-\\uDFFF)."
            ) from None
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
    return 200, codec.dumps_bytes(result)
