"""The console application in-process (real store, real API handlers, no agents):
pages render what the API answers, actions go through the API, and the guard refuses
requests without a session or without the CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dockyard import console
from dockyard.api.agent_channel import AgentHub
from dockyard.console.calls import Api
from dockyard.context import ApiContext
from dockyard.store.sql import open_store, sqlite_url

KEY, SECRET = "AKIDCONSOLE", "console-s3cret"
HTML = {"Accept": "text/html"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ctx = ApiContext(store=open_store(sqlite_url(tmp_path)))
        self.api = Api(self.ctx)

    def service(self) -> None:
        self.api.ecs("CreateCluster", clusterName="stage01")
        self.api.ecs("RegisterTaskDefinition", family="web", containerDefinitions=[
            {"name": "web", "image": "dockyard-demo/web:1", "memory": 64}])  # fmt: skip
        self.api.ecs("RegisterTaskDefinition", family="web", containerDefinitions=[
            {"name": "web", "image": "dockyard-demo/web:2", "memory": 64}])  # fmt: skip
        self.api.ecs("CreateService", cluster="stage01", serviceName="web", taskDefinition="web:1",
                     desiredCount=0)  # fmt: skip


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[web.Request, web.Application]] = []
    setup = Setup(tmp_path)

    async def make(
        credentials: dict[str, str] | None = None,
    ) -> tuple[TestClient[web.Request, web.Application], Setup]:
        app = web.Application()
        console.register(app, setup.ctx, AgentHub(setup.ctx), credentials, tmp_path)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, setup

    yield make
    for client in clients:
        await client.close()
    setup.ctx.store.close()


async def test_pages_show_what_the_api_answers(make_client: Callable[..., Any]) -> None:
    client, setup = await make_client()
    setup.service()
    root = await client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/console/"
    page = await client.get("/console/")
    assert page.status == 200 and "stage01" in await page.text()
    cluster = await (await client.get("/console/clusters/stage01")).text()
    assert 'data-service="web"' in cluster and "No container instances" in cluster
    service = await (await client.get("/console/clusters/stage01/services/web")).text()
    assert '<option value="web:2">' in service and "web:1" in service
    missing = await client.get("/console/clusters/nope")
    assert missing.status == 404 and "No cluster named nope" in await missing.text()
    task = await client.get("/console/clusters/nope/tasks", headers={"HX-Request": "true"})
    assert task.status == 400 and "ClusterNotFoundException" in await task.text()
    lbs = await client.get("/console/load-balancers")
    assert lbs.status == 200 and "No load balancers" in await lbs.text()


async def test_actions_go_through_the_api_with_csrf(make_client: Callable[..., Any]) -> None:
    client, setup = await make_client()
    setup.service()
    page = await (await client.get("/console/clusters/stage01/services/web")).text()
    token = csrf_of(page)
    url = "/console/clusters/stage01/services/web/scale"
    form = {"desiredCount": "3", "back": "/clusters/stage01/services/web"}
    refused = await client.post(url, data=form, allow_redirects=False)
    assert refused.status == 403
    wrong = await client.post(url, data={**form, "csrf_token": "0" * 64}, allow_redirects=False)
    assert wrong.status == 403
    assert (
        setup.api.ecs("DescribeServices", cluster="stage01", services=["web"])["services"][0][
            "desiredCount"
        ]
        == 0
    )
    done = await client.post(url, data={**form, "csrf_token": token}, allow_redirects=False)
    assert done.status == 303 and "desired+count+set+to+3" in done.headers["Location"]
    assert (
        setup.api.ecs("DescribeServices", cluster="stage01", services=["web"])["services"][0][
            "desiredCount"
        ]
        == 3
    )
    # htmx sends the token as a header; an API refusal comes back as a message
    bad = await client.post(url, data={"desiredCount": "-1", "back": "/clusters/stage01/services/web"},
                            headers={"X-CSRF-Token": token}, allow_redirects=False)  # fmt: skip
    assert bad.status == 303 and "err=InvalidParameterException" in bad.headers["Location"]
    revision = await client.post("/console/clusters/stage01/services/web/task-definition",
                                 data={"taskDefinition": "web:2", "csrf_token": token}, allow_redirects=False)  # fmt: skip
    assert revision.status == 303
    doc = setup.api.ecs("DescribeServices", cluster="stage01", services=["web"])["services"][0]
    assert doc["taskDefinition"].endswith("task-definition/web:2")


async def test_credentials_need_a_session_and_csrf(make_client: Callable[..., Any]) -> None:
    client, setup = await make_client({KEY: SECRET})
    setup.service()
    page = await client.get("/console/clusters/stage01", headers=HTML, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/console/login?next=")
    fragment = await client.get("/console/clusters/stage01/tasks", headers={"HX-Request": "true"})
    assert fragment.status == 403
    assert (await client.get("/console/task-logs?task=x")).status == 403
    scale = "/console/clusters/stage01/services/web/scale"
    assert (await client.post(scale, data={"desiredCount": "2"})).status == 403
    assert (await client.get("/console/static/console.css")).status == 200

    wrong = await client.post(
        "/console/login", data={"access_key": KEY, "secret_key": "nope"}, allow_redirects=False
    )
    assert wrong.status == 403 and "wrong secret" in await wrong.text()
    login = await client.post("/console/login", data={"access_key": KEY, "secret_key": SECRET,
                                                       "next": "/console/clusters/stage01"}, allow_redirects=False)  # fmt: skip
    assert login.status == 303 and login.headers["Location"] == "/console/clusters/stage01"
    cookie = login.cookies["dockyard_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    html = await (await client.get("/console/clusters/stage01/services/web")).text()
    assert KEY in html and SECRET not in html
    token = csrf_of(html)
    assert (
        await client.post(scale, data={"desiredCount": "2"}, allow_redirects=False)
    ).status == 403
    done = await client.post(
        scale, data={"desiredCount": "2", "csrf_token": token}, allow_redirects=False
    )
    assert done.status == 303
    assert (
        setup.api.ecs("DescribeServices", cluster="stage01", services=["web"])["services"][0][
            "desiredCount"
        ]
        == 2
    )
    await client.post("/console/logout", data={"csrf_token": token})
    client.session.cookie_jar.clear()
    assert (await client.post(scale, data={"desiredCount": "5", "csrf_token": token})).status == 403
