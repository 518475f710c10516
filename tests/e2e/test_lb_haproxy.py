"""The LB controller against a real HAProxy and real HTTP backends, all on loopback.

The store is filled as the ELBv2 API would fill it; the controller runs in the
test's event loop next to aiohttp backends on 127.0.0.x ports in 20000-30000
(outside the kernel's ephemeral range). Every request loop is bounded in count
and time; HAProxy is killed at the end of each test.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import random
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dockyard.context import ApiContext
from dockyard.lb.controller import LbController
from dockyard.lb.model import load_model
from dockyard.lb.runtime_api import Processes, RuntimeApiError
from dockyard.lb.settings import LbSettings
from dockyard.store import Kind, SqlStore, open_store
from tests.e2e.conftest import ServerProcess, wait_for
from tests.unit.test_lb_model import (
    drain,
    fixed,
    forward,
    put_group,
    put_lb,
    put_listener,
    put_rule,
    put_target,
)

pytestmark = pytest.mark.e2e
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

if not os.path.exists(HAPROXY) and os.environ.get("DOCKYARD_REQUIRE_DOCKER") != "1":
    pytest.skip("haproxy is not installed", allow_module_level=True)


def pick_port(host: str) -> int:
    """A free port in 20000-30000 (never the ephemeral range), bounded attempts."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-30000")


@dataclass
class Backend:
    """An HTTP target: answers its name; /health answers `health_status`."""

    name: str
    host: str
    port: int = 0
    health_status: int = 200
    hits: int = 0
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def health(_request: web.Request) -> web.Response:
            return web.Response(status=self.health_status, text="health")

        async def serve(_request: web.Request) -> web.Response:
            self.hits += 1
            return web.Response(text=self.name)

        async def slow(request: web.Request) -> web.Response:
            """A request that stays in flight: /slow/<seconds>."""
            self.hits += 1
            await asyncio.sleep(float(request.match_info["seconds"]))
            return web.Response(text=self.name)

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/slow/{seconds}", slow)
        app.router.add_get("/{tail:.*}", serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.port = pick_port(self.host)
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Harness:
    store: SqlStore
    controller: LbController
    port: int
    backends: list[Backend] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def backend(self, name: str, host: str) -> Backend:
        backend = Backend(name, host)
        await backend.start()
        self.backends.append(backend)
        return backend

    def targets(self) -> dict[str, dict[str, Any]]:
        with self.store.read() as tx:
            return {row["arn"]: row for row in tx.find_rows(Kind.TARGET)}

    async def processes(self) -> Processes:
        return await self.controller.process.master.processes()

    async def get(self, session: aiohttp.ClientSession, path: str = "/") -> tuple[int, str]:
        async with session.get(self.url + path, allow_redirects=False) as answer:
            return answer.status, await answer.text()

    async def spread(self, count: int, path: str = "/") -> dict[str, int]:
        """`count` requests, each on a new connection; answers by body."""
        seen: dict[str, int] = {}
        async with client() as session:
            for _ in range(count):
                status, body = await self.get(session, path)
                key = body if status == 200 else f"HTTP {status}"
                seen[key] = seen.get(key, 0) + 1
        return seen


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=5),
    )


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


@pytest.fixture
async def lb(tmp_path: Path) -> AsyncIterator[Harness]:
    store = open_store(f"sqlite:///{tmp_path / 'lb.db'}")
    settings = LbSettings(
        haproxy=HAPROXY, run_dir=tmp_path / "haproxy", interval_s=0.2, hard_stop_after_s=10
    )
    controller = LbController(ApiContext(store=store), settings)
    harness = Harness(store, controller, pick_port("127.0.0.1"))
    harness.task = asyncio.create_task(controller.run())
    try:
        yield harness
    finally:
        harness.task.cancel()
        await asyncio.gather(harness.task, return_exceptions=True)
        await controller.stop()
        for backend in harness.backends:
            await backend.stop()
        store.close()


def healthy(harness: Harness, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        states = [row["state"] for row in harness.targets().values()]
        return states.count("healthy") == count

    return check


def server_of(harness: Harness, key: str) -> str:
    with harness.store.read() as tx:
        return next(t.server for t in load_model(tx).targets if t.key == key)


async def test_forward_rules_fixed_response_and_redirect(lb: Harness) -> None:
    blue1 = await lb.backend("blue-1", "127.0.0.2")
    blue2 = await lb.backend("blue-2", "127.0.0.3")
    green = await lb.backend("green-1", "127.0.0.4")
    with lb.store.transaction() as tx:
        arn = put_lb(tx, "web")
        blue = put_group(tx, "blue")
        green_tg = put_group(tx, "green")
        listener = put_listener(tx, arn, lb.port, forward(blue))
        put_rule(
            tx, listener, 10, [{"Field": "path-pattern", "Values": ["/green/*"]}], forward(green_tg)
        )
        put_rule(
            tx,
            listener,
            20,
            [{"Field": "path-pattern", "Values": ["/teapot"]}],
            fixed("418", "short and stout"),
        )
        redirect = [
            {
                "Type": "redirect",
                "RedirectConfig": {"Path": "/new/#{path}", "StatusCode": "HTTP_302"},
            }
        ]
        put_rule(tx, listener, 30, [{"Field": "path-pattern", "Values": ["/old*"]}], redirect)
        for backend, group in ((blue1, blue), (blue2, blue), (green, green_tg)):
            put_target(tx, group, backend.host, backend.port)
    lb.controller.wake()
    await eventually(healthy(lb, 3), what="three healthy targets")
    assert await lb.spread(20) == {"blue-1": 10, "blue-2": 10}
    assert await lb.spread(4, "/green/x") == {"green-1": 4}
    async with client() as session:
        assert await lb.get(session, "/teapot") == (418, "short and stout")
        async with session.get(lb.url + "/old/page?q=1", allow_redirects=False) as answer:
            assert answer.status == 302
            assert answer.headers["Location"] == f"http://127.0.0.1:{lb.port}/new/old/page?q=1"
    health = next(iter(lb.targets().values()))["doc"]["TargetHealth"]
    assert health == {"State": "healthy"}


async def test_scaling_uses_the_runtime_api_and_never_reloads(lb: Harness) -> None:
    first = await lb.backend("one", "127.0.0.2")
    second = await lb.backend("two", "127.0.0.3")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app")
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        put_target(tx, group, first.host, first.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="first target healthy")
    before = await lb.processes()
    with lb.store.transaction() as tx:
        key = put_target(tx, group, second.host, second.port)
    started = time.monotonic()
    lb.controller.wake()
    await eventually(healthy(lb, 2), what="added target healthy")
    healthy_after = time.monotonic() - started
    assert (await lb.spread(10)) == {"one": 5, "two": 5}
    after = await lb.processes()
    assert after.reloads == before.reloads and after.current == before.current
    assert lb.controller.metrics.reloads == 0
    stats = (await lb.controller.process.api.show_stat()).by_ref()
    assert ("tg-app", server_of(lb, key)) in stats
    print(f"runtime add -> healthy in {healthy_after:.2f}s (rise 2, inter 1s)")


async def test_failing_target_turns_unhealthy_in_the_store(lb: Harness) -> None:
    good = await lb.backend("good", "127.0.0.2")
    bad = await lb.backend("bad", "127.0.0.3")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app")
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        put_target(tx, group, good.host, good.port)
        bad_key = put_target(tx, group, bad.host, bad.port)
    lb.controller.wake()
    await eventually(healthy(lb, 2), what="both healthy")
    bad.health_status = 500
    started = time.monotonic()

    async def unhealthy() -> dict[str, Any] | None:
        row = lb.targets()[bad_key]
        return row["doc"]["TargetHealth"] if row["state"] == "unhealthy" else None

    # fall 2 x inter 1s, plus one interval of check spread and one controller step
    health = await eventually(unhealthy, within=5.0, what="unhealthy in the store")
    took = time.monotonic() - started
    assert health["Reason"] == "Target.ResponseCodeMismatch"
    assert health["Description"] == "Health checks failed with these codes: [500]"
    assert await lb.spread(6) == {"good": 6}
    print(f"failing target unhealthy in the store after {took:.2f}s")


async def test_matcher_lists_and_ranges_are_honoured_by_the_checks(lb: Harness) -> None:
    """Matcher HttpCode `200,302` accepts a 302; `200-299` does not (ResponseCodeMismatch)."""
    listed = await lb.backend("listed", "127.0.0.2")
    ranged = await lb.backend("ranged", "127.0.0.3")
    listed.health_status = ranged.health_status = 302
    with lb.store.transaction() as tx:
        by_list = put_group(tx, "bylist", Matcher={"HttpCode": "200,302"})
        by_range = put_group(tx, "byrange", Matcher={"HttpCode": "200-299"})
        web = put_lb(tx, "web")
        put_listener(tx, web, lb.port, forward(by_list))
        put_listener(tx, web, pick_port("127.0.0.1"), forward(by_range))
        listed_key = put_target(tx, by_list, listed.host, listed.port)
        ranged_key = put_target(tx, by_range, ranged.host, ranged.port)
    lb.controller.wake()

    async def settled() -> dict[str, Any] | None:
        rows = lb.targets()
        states = {rows[k]["state"] for k in (listed_key, ranged_key)}
        return rows if "initial" not in states else None

    # rise 2 / fall 2 at 1 s intervals, plus a controller step
    rows = await eventually(settled, within=8.0, what="both checked")
    assert rows[listed_key]["doc"]["TargetHealth"] == {"State": "healthy"}
    assert rows[ranged_key]["doc"]["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.ResponseCodeMismatch",
        "Description": "Health checks failed with these codes: [302]",
    }


async def test_draining_target_gets_nothing_new_and_goes_once_idle(lb: Harness) -> None:
    """As ELB: a deregistering target gets no new request while a request in flight holds
    it `draining`, and goes once idle; the delay (30 s) is only a bound."""
    stay = await lb.backend("stay", "127.0.0.2")
    leave = await lb.backend("leave", "127.0.0.3")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app", {"deregistration_delay.timeout_seconds": "30"})
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        put_target(tx, group, stay.host, stay.port)
        key = put_target(tx, group, leave.host, leave.port)
    lb.controller.wake()
    await eventually(healthy(lb, 2), what="both healthy")
    server = server_of(lb, key)
    # Round robin: of two slow requests in a row, one holds `leave` (the other `stay`).
    held = [asyncio.create_task(in_flight(lb, f"/slow/{HOLD_S}")) for _ in range(2)]
    await eventually(lambda: _async(leave.hits == 1 and stay.hits == 1), what="both held")
    drained_at = time.time()
    with lb.store.transaction() as tx:
        drain(tx, key, since=drained_at)
    lb.controller.wake()

    async def draining() -> bool:
        stat = (await lb.controller.process.api.show_stat()).by_ref().get(("tg-app", server))
        return stat is not None and stat.status == "DRAIN"

    await eventually(draining, within=3.0, what="server in DRAIN")
    assert lb.targets()[key]["state"] == "draining"
    assert await lb.spread(6) == {"stay": 6}  # while `leave` is still DRAIN
    assert leave.hits == 1
    assert await draining() and key in lb.targets(), "held by its request in flight"
    assert sorted(await asyncio.gather(*held)) == [(200, "leave"), (200, "stay")]

    async def gone() -> bool:
        stats = (await lb.controller.process.api.show_stat()).by_ref()
        return key not in lb.targets() and ("tg-app", server) not in stats

    await eventually(gone, within=3.0, what="row and server deleted once idle")
    assert time.time() - drained_at < HOLD_S + 3.0 < 30  # idle, not the 30 s delay
    assert leave.hits == 1
    assert lb.controller.metrics.reloads == 0


HOLD_S = 6  # the requests in flight: long enough to check the spread while DRAIN


async def in_flight(lb: Harness, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=15),
    ) as session:
        try:
            return await lb.get(session, path)
        except aiohttp.ClientError as error:
            return 0, repr(error)


async def test_drain_waits_for_a_request_in_flight_then_ends(lb: Harness) -> None:
    """The target stays `draining` while HAProxy shows a session, and goes when it ends."""
    leave = await lb.backend("leave", "127.0.0.3")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app", {"deregistration_delay.timeout_seconds": "6"})
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        key = put_target(tx, group, leave.host, leave.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="healthy")
    request = asyncio.create_task(in_flight(lb, "/slow/1.5"))
    await asyncio.sleep(0.3)
    drained_at = time.time()
    with lb.store.transaction() as tx:
        drain(tx, key, since=drained_at)
    lb.controller.wake()
    await asyncio.sleep(0.8)
    assert lb.targets()[key]["doc"]["TargetHealth"]["State"] == "draining"
    assert await request == (200, "leave"), "the request in flight finished"
    await eventually(lambda: _async(key not in lb.targets()), within=3.0, what="row deleted")
    took = time.time() - drained_at
    print(f"\ndrain ended {took:.2f}s after deregistration (request in flight 1.5 s, delay 6 s)")
    assert took < 4.0


async def test_drain_ends_at_the_delay_and_termination_cuts_sessions(lb: Harness) -> None:
    """deregistration_delay.connection_termination.enabled: what is left is closed."""
    leave = await lb.backend("leave", "127.0.0.3")
    attributes = {
        "deregistration_delay.timeout_seconds": "1",
        "deregistration_delay.connection_termination.enabled": "true",
    }
    with lb.store.transaction() as tx:
        group = put_group(tx, "app", attributes)
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        key = put_target(tx, group, leave.host, leave.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="healthy")
    request = asyncio.create_task(in_flight(lb, "/slow/10"))
    await asyncio.sleep(0.3)
    drained_at = time.time()
    with lb.store.transaction() as tx:
        drain(tx, key, since=drained_at)
    lb.controller.wake()
    await eventually(lambda: _async(key not in lb.targets()), within=4.0, what="row deleted")
    status, _body = await asyncio.wait_for(request, 5)
    assert status != 200, "the session was cut at the end of the delay"
    assert time.time() - drained_at < 4.0


async def _async(value: bool) -> bool:
    return value


async def test_rule_change_reloads_hitlessly_under_load(lb: Harness) -> None:
    blue = await lb.backend("blue", "127.0.0.2")
    green = await lb.backend("green", "127.0.0.3")
    with lb.store.transaction() as tx:
        blue_tg = put_group(tx, "blue")
        green_tg = put_group(tx, "green")
        listener = put_listener(tx, put_lb(tx, "web"), lb.port, forward(blue_tg))
        put_target(tx, blue_tg, blue.host, blue.port)
        put_target(tx, green_tg, green.host, green.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="blue healthy")
    before = await lb.processes()
    errors: list[str] = []
    done = asyncio.Event()
    counts = {"requests": 0}

    async def load() -> None:
        async with client() as session:
            for _ in range(3000):  # bounded in count; `done` or the deadline end it sooner
                if done.is_set():
                    return
                try:
                    status, _ = await lb.get(session, "/")
                    if status != 200:
                        errors.append(f"HTTP {status}")
                except aiohttp.ClientError as error:
                    errors.append(repr(error))
                counts["requests"] += 1

    workers = [asyncio.create_task(load()) for _ in range(4)]
    await asyncio.sleep(0.3)
    with lb.store.transaction() as tx:
        put_rule(
            tx, listener, 1, [{"Field": "path-pattern", "Values": ["/green*"]}], forward(green_tg)
        )
    lb.controller.wake()

    async def reloaded() -> bool:
        try:
            return (await lb.processes()).reloads > before.reloads
        except RuntimeApiError:  # the master re-executes itself during a reload
            return False

    await eventually(reloaded, within=10.0, what="a reload")
    await eventually(healthy(lb, 2), what="green healthy")
    assert await lb.spread(3, "/green/a") == {"green": 3}
    await asyncio.sleep(0.3)
    done.set()
    await asyncio.wait_for(asyncio.gather(*workers), timeout=20)
    assert errors == []
    assert counts["requests"] > 20
    assert lb.controller.metrics.reloads == 1
    seconds = lb.controller.metrics.reload_seconds
    print(f"reload took {seconds[0] * 1000:.0f} ms; {counts['requests']} requests, 0 errors")


async def test_haproxy_runs_only_while_a_listener_exists(lb: Harness) -> None:
    await asyncio.sleep(0.5)
    assert lb.controller.process.pid is None
    with lb.store.transaction() as tx:
        arn = put_listener(tx, put_lb(tx, "web"), lb.port, fixed("200", "up"))
    lb.controller.wake()

    async def answers() -> bool:
        try:
            async with client() as session:
                return await lb.get(session) == (200, "up")
        except aiohttp.ClientError:
            return False

    await eventually(answers, within=10.0, what="listener answering")
    pid = lb.controller.process.pid
    assert pid is not None
    with lb.store.transaction() as tx:
        tx.delete(Kind.LISTENER, arn)
    lb.controller.wake()

    async def stopped() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await eventually(stopped, within=10.0, what="HAProxy gone")


async def test_a_restarted_controller_adopts_the_running_haproxy(lb: Harness) -> None:
    backend = await lb.backend("one", "127.0.0.2")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app")
        put_listener(tx, put_lb(tx, "web"), lb.port, forward(group))
        put_target(tx, group, backend.host, backend.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="healthy")
    master = lb.controller.process.pid
    assert lb.task is not None
    lb.task.cancel()  # the server died; HAProxy did not
    await asyncio.gather(lb.task, return_exceptions=True)
    successor = LbController(ApiContext(store=lb.store), lb.controller.settings)
    task = asyncio.create_task(successor.run())
    try:
        await eventually(partial(_reloaded_by, successor), within=10.0, what="adoption reload")
        assert successor.process.pid == master
        assert await lb.spread(3) == {"one": 3}
        assert lb.targets()[next(iter(lb.targets()))]["state"] == "healthy"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _reloaded_by(controller: LbController) -> bool:
    return controller.metrics.reloads == 1


class ThreadedBackend:
    """A blocking HTTP target for the tests that drive a real `dockyard server` with boto3."""

    def __init__(self, name: str, host: str) -> None:
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"ok" if self.path == "/health" else backend.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return None

        self.name, self.host = name, host
        self.port = pick_port(host)
        self.httpd = http.server.ThreadingHTTPServer((host, self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def test_full_stack_through_the_elbv2_api(server: ServerProcess) -> None:
    """boto3 -> dockyard server (ELBv2 API, store, LB controller) -> HAProxy -> targets."""
    backends = [ThreadedBackend("one", "127.0.0.2"), ThreadedBackend("two", "127.0.0.3")]
    try:
        elbv2 = server.client("elbv2")
        port = pick_port("127.0.0.1")
        group = elbv2.create_target_group(
            Name="web",
            Protocol="HTTP",
            Port=80,
            TargetType="ip",
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=group,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}],
        )
        lb = elbv2.create_load_balancer(Name="front", Subnets=["subnet-a", "subnet-b"])
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancers"][0]["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )
        elbv2.register_targets(
            TargetGroupArn=group, Targets=[{"Id": b.host, "Port": b.port} for b in backends]
        )

        def states() -> list[str]:
            described = elbv2.describe_target_health(TargetGroupArn=group)[
                "TargetHealthDescriptions"
            ]
            return [d["TargetHealth"]["State"] for d in described]

        wait_for(lambda: states() == ["healthy", "healthy"], timeout=30, what="targets healthy")
        seen = [fetch(f"http://127.0.0.1:{port}/") for _ in range(10)]
        assert sorted(set(seen)) == ["one", "two"]
        elbv2.deregister_targets(
            TargetGroupArn=group, Targets=[{"Id": "127.0.0.2", "Port": backends[0].port}]
        )
        assert "draining" in states()
        wait_for(
            lambda: all(fetch(f"http://127.0.0.1:{port}/") == "two" for _ in range(4)),
            timeout=5,
            what="drained",
        )
        wait_for(lambda: states() == ["healthy"], timeout=10, what="deregistration complete")
    finally:
        for backend in backends:
            backend.close()


@pytest.mark.parametrize("delay", [0.0, *(0.03 + 0.004 * i for i in range(15))])
async def test_stopping_mid_start_leaves_no_haproxy(tmp_path: Path, delay: float) -> None:
    """The server may shut down while HAProxy is starting: nothing may outlive it."""
    store = open_store(f"sqlite:///{tmp_path / 'lb.db'}")
    with store.transaction() as tx:
        put_listener(tx, put_lb(tx, "web"), pick_port("127.0.0.1"), fixed("200", "up"))
    controller = LbController(
        ApiContext(store=store), LbSettings(haproxy=HAPROXY, run_dir=tmp_path / "hap")
    )
    task = asyncio.create_task(controller.run())
    await asyncio.sleep(delay)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await controller.stop()
    await asyncio.sleep(0.2)  # a master spawned at the last moment would have bound its socket
    assert not await controller.process.alive()
    pid_file = tmp_path / "hap" / "haproxy.pid"
    if pid_file.exists():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), 0)
    store.close()
