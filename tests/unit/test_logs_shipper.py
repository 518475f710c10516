"""The agent's log shipper with a fake Docker log and the server's real ingest path:
batches, checkpoints, lost acknowledgements and restarts lose or repeat no line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent.logs_shipper import (
    NANOS,
    AwsLogs,
    Checkpoints,
    LineSplitter,
    LogShipper,
    awslogs_target,
    docker_log_config,
    parse_stamp,
)
from dockyard.logs import shipping
from dockyard.logs.store import LogStore

BASE_S = 1_714_557_600  # 2024-05-01T10:00:00Z
TASK = "arn:aws:ecs:us-east-1:000000000000:task/stage01/abc123"


def stamp(ns: int) -> str:
    seconds, fraction = divmod(ns, NANOS)
    from datetime import UTC, datetime

    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")  # RFC3339Nano trims trailing zeros
    return f"{whole}.{digits}Z" if digits else f"{whole}Z"


class FakeDockerLog:
    """A container's json-file log: timestamped lines, followed until it exits."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.exited = False
        self.changed = asyncio.Event()

    def print(self, ns: int, text: str) -> None:
        self.lines.append((ns, text))
        self.changed.set()

    async def source(self, _container_id: str, since_s: int | None) -> AsyncIterator[bytes]:
        sent = 0
        while True:
            while sent < len(self.lines):
                ns, text = self.lines[sent]
                sent += 1
                if since_s is None or ns >= since_s * NANOS:
                    yield f"{stamp(ns)} {text}\n".encode()
            if self.exited:
                return
            self.changed.clear()
            await self.changed.wait()


class Server:
    """The server's ingest path over a real LogStore; can lose acknowledgements."""

    def __init__(self) -> None:
        self.store = LogStore(None, expire_interval_s=None)
        self.lose_acks = 0

    async def transport(self, message: dict[str, Any]) -> dict[str, Any]:
        ack = shipping.ingest(self.store, message, 1)
        if self.lose_acks:
            self.lose_acks -= 1
            raise ConnectionError("connection dropped before the ack")
        return ack

    def messages(self, group: str = "g", stream: str = "s") -> list[str]:
        found = self.store.group(group)
        target = self.store.stream(found.id, stream) if found else None
        if target is None:
            return []
        return [e.message for e in self.store.read(target.id, 0, 2**62, 10_000, after=(-1, -1))]


CONTAINER = {
    "name": "app",
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "g", "awslogs-stream-prefix": "web"},
    },
}


def test_stream_names_and_docker_log_config() -> None:
    assert awslogs_target(CONTAINER, TASK, "cid") == AwsLogs("g", "web/app/abc123", False)
    plain = {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": "g", "awslogs-create-group": "true"}}}  # fmt: skip
    assert awslogs_target(plain, TASK, "cid") == AwsLogs("g", "cid", True)
    assert awslogs_target({"name": "x"}, TASK, "cid") is None
    assert docker_log_config(CONTAINER["logConfiguration"]) == ("json-file", {})
    assert docker_log_config({"logDriver": "json-file", "options": {"max-size": "1m"}}) == (
        "json-file",
        {"max-size": "1m"},
    )
    assert docker_log_config({"logDriver": "none"}) == ("none", {})
    assert docker_log_config(None) == (None, {})


def test_parse_stamp_keeps_nanoseconds() -> None:
    ns = BASE_S * NANOS + 120_000_000
    assert parse_stamp(f"{stamp(ns)} hello") == (ns, "hello")
    assert parse_stamp("2024-05-01T10:00:00Z x") == (BASE_S * NANOS, "x")
    assert parse_stamp("no stamp") is None


def test_splitter_numbers_lines_within_a_nanosecond_and_skips_the_checkpoint() -> None:
    ns = BASE_S * NANOS
    chunk = f"{stamp(ns)} a\n{stamp(ns)} b\n{stamp(ns + 1)} c\n{stamp(ns + 1)} d".encode()
    splitter = LineSplitter(checkpoint=(ns, 0))
    assert splitter.feed(chunk) == [((ns, 1), "b"), ((ns + 1, 0), "c")]
    assert splitter.feed(b"\n") == [((ns + 1, 1), "d")]  # the rest of a split chunk


@pytest.mark.parametrize("lost_acks", [0, 1, 3])
async def test_restart_and_lost_acks_lose_or_repeat_nothing(tmp_path: Path, lost_acks: int) -> None:
    docker_log = FakeDockerLog()
    server = Server()
    checkpoints = Checkpoints(tmp_path)
    server.store.create_group("g", 0)
    expected = []
    for i in range(30):  # several lines per nanosecond and per second
        ns = (BASE_S + i // 10) * NANOS + (i // 3) * 1000
        docker_log.print(ns, f"line {i}")
        expected.append(f"line {i}")

    def shipper() -> LogShipper:
        return LogShipper(
            docker_log.source, server.transport, checkpoints, interval_s=0.01, batch_lines=7
        )

    first = shipper()
    first.follow(CONTAINER, TASK, "cid")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(server.messages(stream="web/app/abc123")) == 30:
            break
    await first.close()  # the agent is killed...
    server.lose_acks = lost_acks  # ...and some batches were stored but never acknowledged
    for i in range(30, 45):
        docker_log.print((BASE_S + 3) * NANOS + i, f"line {i}")
        expected.append(f"line {i}")
    docker_log.exited = True
    second = shipper()
    second.follow(CONTAINER, TASK, "cid")
    task = second.followers["cid"]
    await asyncio.wait_for(task, timeout=30)
    assert server.messages(stream="web/app/abc123") == expected
    assert checkpoints.load("cid") is not None
    second.forget("cid")
    assert checkpoints.load("cid") is None


async def test_missing_group_is_retried_until_created(tmp_path: Path) -> None:
    docker_log = FakeDockerLog()
    docker_log.print(BASE_S * NANOS, "hello")
    docker_log.exited = True
    server = Server()
    shipper = LogShipper(
        docker_log.source, server.transport, Checkpoints(tmp_path), interval_s=0.01
    )
    import dockyard.agent.logs_shipper as module

    module_retry = module.RETRY_MIN_S
    module.RETRY_MIN_S = 0.01
    try:
        shipper.follow(CONTAINER, TASK, "cid")
        await asyncio.sleep(0.1)
        assert server.store.group("g") is None and "cid" in shipper.followers
        server.store.create_group("g", 0)
        await asyncio.wait_for(shipper.followers["cid"], timeout=10)
    finally:
        module.RETRY_MIN_S = module_retry
    assert server.messages(stream="web/app/abc123") == ["hello"]


def test_docker_create_config_carries_the_log_driver() -> None:
    from dockyard.agent.runtime import ContainerSpec
    from dockyard.agent.runtime_docker_mapping import create_config

    spec = ContainerSpec(
        task_arn=TASK, container_name="app", image="x", log_driver="json-file",
        log_options={"max-size": "1m"},
    )  # fmt: skip
    assert create_config(spec, ())["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "1m"},
    }
    plain = ContainerSpec(task_arn=TASK, container_name="app", image="x")
    assert "LogConfig" not in create_config(plain, ())["HostConfig"]  # Docker's default
