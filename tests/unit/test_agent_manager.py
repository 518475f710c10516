"""The agent's task manager and workers on the fake runtime: lifecycle, failures, adoption."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.agent.manager import TaskManager
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.agent.task_worker import WorkerContext
from dockyard.testing.fake_runtime import FakeRuntime
from dockyard.wire.agent import DesiredTask, TaskReport

INSTANCE = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc"
CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"


def definition(image: str = "web:1") -> dict[str, Any]:
    return {
        "family": "web",
        "containerDefinitions": [
            {"name": "web", "image": image, "memory": 64, "essential": True,
             "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
             "links": ["side:side"]},
            {"name": "side", "image": image, "memory": 16, "essential": False},
        ],
    }


def desired(arn: str, status: str = "RUNNING", image: str = "web:1") -> DesiredTask:
    return {
        "taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/c/{arn}",
        "desiredStatus": status,
        "lastStatus": "PROVISIONING",
        "taskDefinition": definition(image),
        "overrides": {},
        "containers": [],
    }


class Harness:
    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.reports: list[TaskReport] = []
        self.ctx = WorkerContext(
            runtime=runtime,
            picker=DynamicPortPicker((50000, 50010), probe=False),
            host_ip="127.0.1.1",
            cluster_arn=CLUSTER,
            instance_arn=INSTANCE,
            default_stop_timeout_s=1.0,
            report=lambda _r: None,
        )
        self.manager = TaskManager(self.ctx, cleanup_wait_s=60)
        self.manager.attach(self.reports.append)
        self.events = runtime.events()
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for event in self.events:
            self.manager.on_event(event)

    def last(self, arn: str) -> TaskReport:
        return [r for r in self.reports if r["taskArn"].endswith(arn)][-1]

    async def until(self, arn: str, status: str) -> TaskReport:
        for _ in range(200):
            matching = [r for r in self.reports if r["taskArn"].endswith(arn)]
            if matching and matching[-1]["lastStatus"] == status:
                return matching[-1]
            await asyncio.sleep(0.01)
        raise AssertionError(f"{arn} never reached {status}: {self.reports}")

    async def close(self) -> None:
        self.pump.cancel()
        await self.manager.close()
        await self.events.aclose()


@pytest.fixture
async def harness() -> Any:
    h = Harness(FakeRuntime())
    yield h
    await h.close()


async def test_start_reports_pending_then_running_with_bindings(harness: Harness) -> None:
    harness.manager.apply_desired([desired("t1")])
    running = await harness.until("t1", "RUNNING")
    statuses = [r["lastStatus"] for r in harness.reports if r["taskArn"].endswith("t1")]
    assert statuses.index("PENDING") < statuses.index("RUNNING")
    web = next(c for c in running["containers"] if c["name"] == "web")
    assert web["networkBindings"][0]["bindIP"] == "127.0.1.1"
    assert 50000 <= web["networkBindings"][0]["hostPort"] <= 50010
    assert "pullStartedAt" in running and "startedAt" in running


async def test_essential_exit_stops_the_task(harness: Harness) -> None:
    harness.manager.apply_desired([desired("t1")])
    running = await harness.until("t1", "RUNNING")
    web = next(c for c in running["containers"] if c["name"] == "web")
    harness.runtime.kill(web["runtimeId"], 137)
    stopped = await harness.until("t1", "STOPPED")
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert next(c for c in stopped["containers"] if c["name"] == "web")["exitCode"] == 137


async def test_non_essential_exit_keeps_the_task(harness: Harness) -> None:
    harness.manager.apply_desired([desired("t1")])
    running = await harness.until("t1", "RUNNING")
    side = next(c for c in running["containers"] if c["name"] == "side")
    harness.runtime.kill(side["runtimeId"], 1)
    await asyncio.sleep(0.1)
    assert harness.last("t1")["lastStatus"] == "RUNNING"
    assert next(c for c in harness.last("t1")["containers"] if c["name"] == "side")["lastStatus"] == "STOPPED"


async def test_desired_stopped_and_removed_from_the_set(harness: Harness) -> None:
    harness.manager.apply_desired([desired("t1"), desired("t2")])
    await harness.until("t1", "RUNNING")
    await harness.until("t2", "RUNNING")
    harness.manager.apply_desired([desired("t1", "STOPPED"), desired("t2")])
    await harness.until("t1", "STOPPED")
    harness.manager.apply_desired([])  # the server gave t2 up (host lost): stop it here too
    await harness.until("t2", "STOPPED")


async def test_missing_image_fails_to_start() -> None:
    harness = Harness(FakeRuntime(images=["web:1"]))
    try:
        harness.manager.apply_desired([desired("t1", image="nope:1")])
        stopped = await harness.until("t1", "STOPPED")
        assert stopped["stopCode"] == "TaskFailedToStart"
        assert stopped["reason"].startswith("CannotPullContainerError")
    finally:
        await harness.close()


async def test_restart_adopts_containers_and_never_runs_twice(harness: Harness) -> None:
    harness.manager.apply_desired([desired("t1"), desired("gone")])
    await harness.until("t1", "RUNNING")
    await harness.until("gone", "RUNNING")
    before = {c.id for c in harness.runtime.containers if c.status == "running"}
    await harness.manager.close()

    # A new manager on the same engine, as after `kill -9` of the agent.
    second = Harness(harness.runtime)
    try:
        await second.manager.discover()
        second.manager.apply_desired([desired("t1")])  # "gone" was given up meanwhile
        report = await second.until("t1", "RUNNING")
        assert {c["runtimeId"] for c in report["containers"]} <= before
        for _ in range(100):
            running = {c.id for c in harness.runtime.containers if c.status == "running"}
            if len(running) == 2:
                break
            await asyncio.sleep(0.01)
        assert running <= before and len(running) == 2  # t1's two containers, nothing new
    finally:
        await second.close()
