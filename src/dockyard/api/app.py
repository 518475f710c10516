"""The server's HTTP front door: one aiohttp application for every AWS protocol.

Routing: a request with `X-Amz-Target` goes to the JSON service owning that
prefix; a form-encoded `Action=...&Version=...` body goes to the query-protocol
service of that API version (ELBv2). Signature Version 4 is checked first when
the server has credentials.
Every failure leaves as an AWS error of the protocol the client spoke; an
unexpected exception is logged here and answered as ServerException (500)
without internals.

Threads: on a blocking store (PostgreSQL) everything after reading the body (SigV4,
decoding, validation, the handler, encoding) runs in the store's bounded thread pool
(store/offload.py), so a slow database slows requests, never the event loop (agents'
websocket heartbeats, /health). On SQLite it runs inline (store/README.md: measured).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from aiohttp import web

from dockyard.accounts.principals import CALLER
from dockyard.api import agent_package
from dockyard.api.json_protocol import JsonService, dispatch, error_response
from dockyard.api.query_protocol import FORM_CONTENT_TYPE, QueryService
from dockyard.api.query_protocol import respond as query_respond
from dockyard.api.request_scope import BASE_URL
from dockyard.context import ApiContext
from dockyard.errors import AwsError, ProtocolError, ServerException
from dockyard.metrics.instruments import API_REQUESTS, API_SECONDS
from dockyard.store.offload import off_loop

log = logging.getLogger("dockyard.api")

CTX_KEY = web.AppKey("ctx", ApiContext)


def authenticate(
    request: web.Request, body: bytes, credentials: Mapping[str, str] | None
) -> str | None:
    """Check the request's SigV4 signature when the server has credentials."""
    if credentials is None:
        return None
    from dockyard.api.sigv4 import verify

    return verify(
        request.method,
        request.raw_path,  # still URL-encoded, as signed; verify() splits off the query
        "",
        request.headers,
        body,
        credentials,
        datetime.now(UTC),
    )


class Gateway:
    """Finds the service and action of a request, checks auth, runs it."""

    def __init__(
        self,
        ctx: ApiContext,
        services: Sequence[JsonService | QueryService],
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.json_services = {s.target_prefix: s for s in services if isinstance(s, JsonService)}
        self.query_services = {s.version: s for s in services if isinstance(s, QueryService)}

    def _authenticate(self, request: web.Request, body: bytes) -> None:
        CALLER.set(None)  # requests of one keep-alive connection share a context
        BASE_URL.set(f"{request.scheme}://{request.host}")
        CALLER.set(authenticate(request, body, self.credentials))  # the caller's principal

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        response = await off_loop(self.ctx.store, self._handle, request, body, started)
        service, action = self._labels(request, body)
        API_REQUESTS.labels(service, action, str(response.status)).inc()
        API_SECONDS.labels(service, action).observe(time.perf_counter() - started)
        return response

    def _labels(self, request: web.Request, body: bytes) -> tuple[str, str]:
        """Service and action of a request, for /metrics (unknown ones collapse to "-")."""
        if "X-Amz-Target" in request.headers:
            prefix, _, action = request.headers["X-Amz-Target"].rpartition(".")
            json_service = self.json_services.get(prefix)
            if json_service is not None and action in json_service.handlers:
                return json_service.model_name, action
            return "-", "-"
        fields = dict(parse_qsl(body[:4096].decode("utf-8", errors="replace")))
        query_service = self.query_services.get(fields.get("Version", ""))
        action = fields.get("Action", "")
        if query_service is not None and action in query_service.handlers:
            return query_service.model_name, action
        return "-", "-"

    def _handle(self, request: web.Request, body: bytes, started: float) -> web.Response:
        """Answer the request (in the store's thread pool when the store blocks)."""
        request_id = str(uuid.uuid4())
        if request.content_type == FORM_CONTENT_TYPE and "X-Amz-Target" not in request.headers:
            return query_respond(
                self.query_services,
                self.ctx,
                body,
                request_id,
                lambda: self._authenticate(request, body),
            )
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, action = target.rpartition(".")
        service = self.json_services.get(prefix)
        content_type = service.content_type if service else "application/x-amz-json-1.1"
        try:
            self._authenticate(request, body)
            if service is None:
                raise ProtocolError(
                    f"Unknown target {target!r}: send X-Amz-Target <service prefix>.<Action>.",
                    code="UnknownOperationException",
                )
            status, payload = dispatch(service, action, body, self.ctx)
        except AwsError as error:
            log.info("%s -> %s %s", target or "-", error.status, error.code)
            compatible = service is not None and service.query_compatible
            return error_response(error, content_type, request_id, query_compatible=compatible)
        except Exception:
            log.exception("%s failed (request %s)", target, request_id)
            return error_response(
                ServerException("An internal error occurred. Request id: " + request_id),
                content_type,
                request_id,
            )
        log.debug("%s -> %s in %.1f ms", target, status, (time.perf_counter() - started) * 1e3)
        return web.Response(
            status=status,
            body=payload,
            content_type=content_type,
            headers={"x-amzn-RequestId": request_id},
        )


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(
    ctx: ApiContext,
    services: Sequence[JsonService | QueryService] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> web.Application:
    if services is None:
        from dockyard.api.acm import ACM
        from dockyard.api.autoscaling import APPLICATION_AUTOSCALING
        from dockyard.api.cloudwatch import CLOUDWATCH, CLOUDWATCH_QUERY
        from dockyard.api.ecs import ECS
        from dockyard.api.elbv2 import ELBV2
        from dockyard.api.logs import LOGS

        services = [ECS, ELBV2, CLOUDWATCH, CLOUDWATCH_QUERY, APPLICATION_AUTOSCALING, LOGS, ACM]
    gateway = Gateway(ctx, services, credentials)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[CTX_KEY] = ctx

    async def bind_loop(_app: web.Application) -> None:  # ctx.on_loop hops to it
        ctx.loop = asyncio.get_running_loop()

    app.on_startup.append(bind_loop)
    app.router.add_get("/health", _health)
    app.router.add_get(  # UpdateContainerAgent: agents download this server's package
        agent_package.PATH,
        agent_package.make_handler(lambda request: authenticate(request, b"", credentials)),
    )
    app.router.add_post("/", gateway.handle)
    return app
