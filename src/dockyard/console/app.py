"""The web console's aiohttp sub-application: routes, the session/CSRF guard, templates.

    server.py:  console.register(app, ctx, hub, credentials, data_dir)

mounts it at /console (and sends `GET /` there). Every request but the login page
and the static files passes `guard`: with --credentials it needs a signed session
cookie (pages redirect to the login form; fragments, JSON and POSTs get 403), and
every POST needs the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from dockyard.api import task_logs
from dockyard.api.agent_channel import AgentHub
from dockyard.console import actions, auth, live, pages
from dockyard.console.calls import Api
from dockyard.console.context import (
    CONSOLE,
    PREFIX,
    SESSION,
    Console,
    console,
    render,
    threaded,
)
from dockyard.context import ApiContext
from dockyard.errors import AwsError

STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _public(path: str) -> bool:
    return path == PREFIX + "/login" or path.startswith(PREFIX + "/static/")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = console(request)
    if not _public(request.path):
        session = state.session(request)
        if session is None:
            wants_page = request.method == "GET" and not request.headers.get("HX-Request")
            if wants_page and "text/html" in request.headers.get("Accept", ""):
                query = urlencode({"next": request.path_qs})
                raise web.HTTPSeeOther(f"{PREFIX}/login?{query}")
            raise web.HTTPForbidden(text="Sign in to the Dockyard console first.")
        request[SESSION] = session
        if request.method not in {"GET", "HEAD"}:
            token = request.headers.get(auth.CSRF_HEADER)
            if token is None and request.content_type in {
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            }:
                token = str((await request.post()).get(auth.CSRF_FIELD, "")) or None
            if not auth.csrf_ok(state.secret, session, token):
                raise web.HTTPForbidden(text="Missing or invalid CSRF token.")
    try:
        return await handler(request)
    except AwsError as error:  # a read the page needed was refused: say why
        response = render(request, "error.html", {"error": error})
        response.set_status(error.status)
        return response


async def login_form(request: web.Request) -> web.Response:
    if console(request).credentials is None:
        raise web.HTTPSeeOther(PREFIX + "/")
    return render(request, "login.html", {"next": request.query.get("next", "")})


async def login(request: web.Request) -> web.Response:
    state = console(request)
    if state.credentials is None:
        raise web.HTTPSeeOther(PREFIX + "/")
    form = await request.post()
    key, secret = str(form.get("access_key", "")), str(form.get("secret_key", ""))
    target = auth.safe_next(str(form.get("next", "")), PREFIX)
    if not auth.check_login(state.credentials, key, secret):
        response = render(
            request, "login.html", {"next": target, "err": "Unknown access key or wrong secret."}
        )
        response.set_status(403)
        return response
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        auth.COOKIE,
        auth.sign_session(state.secret, key, state.clock()),
        max_age=int(auth.SESSION_TTL_S),
        path=PREFIX,
        httponly=True,
        samesite="Strict",
    )
    raise response


async def logout(_request: web.Request) -> web.Response:
    response = web.HTTPSeeOther(PREFIX + "/login")
    response.del_cookie(auth.COOKIE, path=PREFIX)
    raise response


def create_app(
    ctx: ApiContext,
    hub: AgentHub,
    credentials: Mapping[str, str] | None,
    data_dir: Path,
) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[CONSOLE] = Console(Api(ctx), auth.load_secret(data_dir), credentials, ctx.clock)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("dockyard.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.ChainableUndefined,  # API documents omit unset keys
    )
    service = "/clusters/{cluster}/services/{service}"
    r = app.router
    r.add_static("/static", STATIC)
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/", threaded(pages.clusters))
    r.add_get("/load-balancers", threaded(pages.load_balancers))
    r.add_get("/clusters/{cluster}", threaded(pages.cluster))
    r.add_get("/clusters/{cluster}/instances", threaded(pages.instances_fragment))
    r.add_get("/clusters/{cluster}/services", threaded(pages.services_fragment))
    r.add_get("/clusters/{cluster}/tasks", threaded(pages.tasks_fragment))
    r.add_post("/clusters/{cluster}/instances/{instance}/state", actions.drain)
    r.add_get("/clusters/{cluster}/tasks/{task}", threaded(pages.task))
    r.add_post("/clusters/{cluster}/tasks/{task}/stop", actions.stop)
    r.add_get(service, threaded(pages.service))
    r.add_get(service + "/overview", threaded(pages.service_overview))
    r.add_get(service + "/tasks", threaded(pages.tasks_fragment))
    r.add_get(service + "/metrics.json", threaded(live.service_metrics))
    r.add_post(service + "/scale", actions.scale)
    r.add_post(service + "/deploy", actions.deploy)
    r.add_post(service + "/task-definition", actions.revision)
    r.add_get("/task-logs", task_logs.make_handler(ctx, hub, None))
    return app


async def _to_console(_request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX + "/")


def register(
    app: web.Application,
    ctx: ApiContext,
    hub: AgentHub,
    credentials: Mapping[str, str] | None,
    data_dir: Path,
) -> None:
    """Mount the console at /console; `GET /` and `GET /console` lead there."""
    app.add_subapp(PREFIX, create_app(ctx, hub, credentials, data_dir))
    app.router.add_get("/", _to_console)
    app.router.add_get(PREFIX, _to_console)
