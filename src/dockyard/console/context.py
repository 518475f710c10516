"""What every console handler shares: the API, the signing secret, the session, rendering.

Pages and buttons call API handlers, which read the store: `threaded` runs a page off
the event loop when the store blocks (PostgreSQL; store/offload.py), as the gateway
runs API requests."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from dockyard.console import auth
from dockyard.console.calls import Api
from dockyard.store.offload import off_loop

PREFIX = "/console"


@dataclass
class Console:
    api: Api
    secret: bytes
    credentials: Mapping[str, str] | None  # None: no login (loopback only)
    clock: Callable[[], float] = field(default=time.time)

    def session(self, request: web.Request) -> auth.Session | None:
        if self.credentials is None:
            return auth.anonymous()
        cookie = request.cookies.get(auth.COOKIE)
        return auth.read_session(self.secret, cookie, self.clock(), self.credentials)


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("console_session", auth.Session)


def console(request: web.Request) -> Console:
    return request.config_dict[CONSOLE]


Page = Callable[[web.Request], web.StreamResponse]


def threaded(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of a page (a plain function that renders or raises)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await off_loop(console(request).api.ctx.store, page, request)

    return handle


def render(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    """A template with what every page needs: prefix, CSRF token, user, messages."""
    state = console(request)
    session: auth.Session | None = request.get(SESSION)
    context = {
        "prefix": PREFIX,
        "csrf": auth.csrf_token(state.secret, session) if session else "",
        "user": session.access_key if session else None,
        "login": state.credentials is not None,
        "msg": request.query.get("msg", ""),
        "err": request.query.get("err", ""),
        "now": state.clock(),
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers["Cache-Control"] = "no-store"
    return response


def back(path: str, **query: str) -> web.HTTPSeeOther:
    """Post/redirect/get: back to a console page, with a message to show there."""
    query = {k: v for k, v in query.items() if v}
    return web.HTTPSeeOther(PREFIX + path + ("?" + urlencode(query) if query else ""))
