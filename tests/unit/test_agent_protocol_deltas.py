"""The agent protocol in process: the real hub (server side) and the real agent channel
and task manager on the fake runtime, over a loopback websocket.

An instance with 200 tasks: one StopTask sends a one-task delta; a dropped delta heals
(by the agent's resync, or by the server's ack timeout); a reconnect with the same
generation sends no full set; a server restart does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dockyard.agent.channel import Channel
from dockyard.agent.manager import TaskManager
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.agent.task_worker import WorkerContext
from dockyard.api.agent_channel import AgentHub, Connection
from dockyard.api.ecs import HANDLERS
from dockyard.context import ApiContext
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url
from dockyard.testing.fake_runtime import FakeRuntime
from dockyard.wire.agent import WS_PATH, DesiredMessage

TASKS = 200


class RecordingHub(AgentHub):
    """The real hub; records every desired message it sends and can drop some."""

    def __init__(self, ctx: ApiContext) -> None:
        super().__init__(ctx)
        self.sent: list[tuple[DesiredMessage, int]] = []  # (message, bytes)
        self.drop = 0  # drop this many of the next desired messages

    async def _send(self, connection: Connection, message: DesiredMessage) -> None:
        text = json.dumps(message)
        self.sent.append((message, len(text)))
        if self.drop:
            self.drop -= 1
            return
        await connection.ws.send_str(text)


@dataclass
class World:
    ctx: ApiContext
    hub: RecordingHub
    server: TestServer
    channel: Channel
    manager: TaskManager
    runtime: FakeRuntime
    task_arns: list[str]

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        return HANDLERS[action](self.ctx, params)

    def statuses(self) -> dict[str, str]:
        with self.ctx.store.read() as tx:
            return {t["taskArn"]: t["lastStatus"] for t in tx.find(Kind.TASK)}

    async def until(self, check: Any, what: str) -> None:
        for _ in range(1000):  # bounded: ~10 s
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never converged: {what}")

    async def all_running(self) -> None:
        await self.until(
            lambda: all(s == "RUNNING" for s in self.statuses().values()), "all RUNNING"
        )

    async def stopped(self, *arns: str) -> None:
        await self.until(
            lambda: all(self.statuses()[a] == "STOPPED" for a in arns), f"{arns} STOPPED"
        )

    def messages_since(self, mark: int) -> list[DesiredMessage]:
        return [m for m, _size in self.hub.sent[mark:]]


async def start_hub(ctx: ApiContext) -> tuple[RecordingHub, TestServer]:
    hub = RecordingHub(ctx)
    app = web.Application()
    app.router.add_get(WS_PATH, hub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return hub, server


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store)
    calls = World(ctx, None, None, None, None, None, [])  # type: ignore[arg-type]
    calls.call("CreateCluster", clusterName="c")
    calls.call(
        "RegisterTaskDefinition",
        family="web",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 8}],
    )
    instance = calls.call(
        "RegisterContainerInstance",
        cluster="c",
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 100_000},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 100_000},
        ],
    )["containerInstance"]["containerInstanceArn"]
    hub, server = await start_hub(ctx)
    runtime = FakeRuntime()
    worker_ctx = WorkerContext(
        runtime=runtime,
        picker=DynamicPortPicker((50000, 50010), probe=False),
        host_ip="127.0.1.1",
        cluster_arn=ctx.identity.ecs("cluster/c"),
        instance_arn=instance,
        default_stop_timeout_s=0.1,
        report=lambda _r: None,
    )
    manager = TaskManager(worker_ctx, cleanup_wait_s=3600)
    endpoint = f"http://127.0.0.1:{server.port}"
    channel = Channel(endpoint, "c", instance, manager)
    events = runtime.events()

    async def pump() -> None:
        async for event in events:
            manager.on_event(event)

    tasks = [asyncio.create_task(pump()), asyncio.create_task(channel.run())]
    w = World(ctx, hub, server, channel, manager, runtime, [])
    await w.until(lambda: hub.connections, "the agent connected")
    for _ in range(TASKS // 10):
        placed = w.call("RunTask", cluster="c", taskDefinition="web", count=10)["tasks"]
        w.task_arns.extend(t["taskArn"] for t in placed)
    assert len(w.task_arns) == TASKS
    await w.all_running()
    yield w
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await manager.close()
    await events.aclose()
    await w.hub.close()
    await w.server.close()
    store.close()


def stop(world: World, arn: str) -> None:
    world.call("StopTask", cluster="c", task=arn)


async def test_one_change_of_200_tasks_sends_a_one_task_delta(world: World) -> None:
    assert len(world.task_arns) == TASKS
    full_sets = [m for m in world.messages_since(0) if m.get("full")]
    assert len(full_sets) == 1  # on connect; RunTasks after it went as deltas
    mark = len(world.hub.sent)
    stop(world, world.task_arns[0])
    await world.stopped(world.task_arns[0])
    (message,) = world.messages_since(mark)  # the STOPPED report makes no message back
    assert [t["taskArn"] for t in message["tasks"]] == [world.task_arns[0]]
    assert message["tasks"][0]["desiredStatus"] == "STOPPED"
    assert message["taskDefinitions"] == {}  # the agent has it since the first RunTask
    assert world.hub.sent[mark][1] < 1000  # bytes
    assert all(s == "RUNNING" for a, s in world.statuses().items() if a != world.task_arns[0])


async def test_a_dropped_delta_heals_on_the_next_one(world: World) -> None:
    world.hub.drop = 1
    stop(world, world.task_arns[1])  # this delta is lost
    await world.until(lambda: world.hub.drop == 0, "the drop")
    mark = len(world.hub.sent)
    stop(world, world.task_arns[2])  # its base is ahead of the agent: it asks to resync
    await world.stopped(world.task_arns[1], world.task_arns[2])
    resent = world.messages_since(mark)[-1]
    assert sorted(t["taskArn"] for t in resent["tasks"]) == sorted(world.task_arns[1:3])
    assert not any(m.get("full") for m in world.messages_since(mark))


async def test_a_dropped_last_delta_is_resent_after_the_ack_timeout(world: World) -> None:
    world.hub.desired.ack_timeout_s = 0.2
    world.hub.drop = 1
    stop(world, world.task_arns[3])
    await world.stopped(world.task_arns[3])
    assert world.statuses()[world.task_arns[4]] == "RUNNING"


async def test_reconnect_with_the_same_generation_sends_no_full_set(world: World) -> None:
    mark = len(world.hub.sent)
    (connection,) = world.hub.connections.values()
    await connection.ws.close()  # the agent reconnects with its generation
    await world.until(
        lambda: world.hub.connections and connection not in world.hub.connections.values(),
        "reconnect",
    )
    stop(world, world.task_arns[5])
    await world.stopped(world.task_arns[5])
    assert not any(m.get("full") for m in world.messages_since(mark))


async def test_changes_while_disconnected_arrive_as_a_delta(world: World) -> None:
    (connection,) = world.hub.connections.values()
    world.ctx.on_desired_change = None  # a change nobody announces: the connect diff finds it
    stop(world, world.task_arns[6])
    mark = len(world.hub.sent)
    await connection.ws.close()
    await world.stopped(world.task_arns[6])
    messages = world.messages_since(mark)
    assert not any(m.get("full") for m in messages)
    assert [t["taskArn"] for m in messages for t in m["tasks"]] == [world.task_arns[6]]


async def test_a_server_restart_sends_one_full_set(world: World) -> None:
    port = world.server.port
    assert port is not None
    await world.hub.close()
    await world.server.close()
    world.hub, world.server = await start_hub_on(world, port)
    await world.until(lambda: world.hub.connections, "reconnect to the new server")
    await world.until(lambda: world.hub.sent, "the full set")
    (message, size) = world.hub.sent[0]
    assert message.get("full") and len(message["tasks"]) == TASKS
    assert len(message["taskDefinitions"]) == 1
    stop(world, world.task_arns[7])
    await world.stopped(world.task_arns[7])
    print(f"full set of {TASKS} tasks: {size} bytes; one-task delta: {world.hub.sent[-1][1]}")


async def start_hub_on(world: World, port: int) -> tuple[RecordingHub, TestServer]:
    """A new hub (a server restart: no memory) on the same port and store."""
    hub = RecordingHub(world.ctx)
    app = web.Application()
    app.router.add_get(WS_PATH, hub.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return hub, server
