"""Ships the output of containers using the `awslogs` driver to the server's CloudWatch Logs.

    Docker (json-file, timestamps) --log_lines(since)--> LineSplitter --> batch
        --"log_events" over the agent websocket--> server stores, answers "log_ack"
        --> checkpoint file (last shipped position) in the agent's data dir

Docker keeps every line in its json-file log, so the checkpoint is all the state a
restart needs: a follower re-opens the container's log from the checkpoint and drops
what it already shipped. A position is (Docker timestamp in ns, index among the lines
of that same ns); the server also keeps the last stored position per stream and drops
anything at or before it, so a batch stored but not acknowledged (agent killed in
between) is not stored twice. No line is lost or repeated across `kill -9`.

Batches leave every BATCH_INTERVAL_S or BATCH_LINES lines, whichever comes first; a
failed or unacknowledged send re-opens the log from the checkpoint after a pause.
`docker_log_config` maps logConfiguration to Docker's LogConfig (awslogs -> json-file,
other drivers as configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("dockyard.agent.logs")

BATCH_INTERVAL_S = 0.5
BATCH_LINES = 1000
BATCH_BYTES = 512 * 1024
ACK_TIMEOUT_S = 10.0
RETRY_MIN_S, RETRY_MAX_S = 0.5, 15.0
NANOS = 1_000_000_000

Position = tuple[int, int]  # (Docker timestamp ns, index among lines at that ns)
LogSource = Callable[[str, int | None], AsyncIterator[bytes]]  # (container id, since s)
Transport = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # message -> its ack


# --- pure parts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwsLogs:
    """Where one container's output goes."""

    group: str
    stream: str
    create_group: bool


def docker_log_config(
    log_configuration: Mapping[str, Any] | None,
) -> tuple[str | None, dict[str, str]]:
    """(Docker log driver, options) for a container: awslogs is shipped by the agent from
    Docker's json-file log; other drivers (json-file, none, syslog...) pass through."""
    if not log_configuration:
        return None, {}
    driver = str(log_configuration.get("logDriver", ""))
    if driver == "awslogs":
        return "json-file", {}
    return driver or None, {
        str(k): str(v) for k, v in (log_configuration.get("options") or {}).items()
    }


def awslogs_target(container: Mapping[str, Any], task_arn: str, runtime_id: str) -> AwsLogs | None:
    """The group and stream ECS would use: `prefix/container-name/task-id` with a
    stream prefix, the container's id without one; None for other drivers."""
    config = container.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if not group:
        return None
    prefix = options.get("awslogs-stream-prefix")
    task_id = task_arn.rsplit("/", 1)[-1]
    stream = f"{prefix}/{container['name']}/{task_id}" if prefix else runtime_id
    create = str(options.get("awslogs-create-group", "false")).lower() == "true"
    return AwsLogs(str(group), stream, create)


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")


def parse_stamp(line: str) -> tuple[int, str] | None:
    """Docker's `timestamps=true` prefix ("2024-05-01T10:00:00.123456789Z ") -> exact ns."""
    match = _STAMP.match(line)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    nanos = int(seconds.astimezone(UTC).timestamp()) * NANOS + int((fraction or "").ljust(9, "0"))
    return nanos, line[match.end() :]


class LineSplitter:
    """Chunks of Docker's log stream -> (position, message) after `checkpoint`.

    Lines are numbered within their nanosecond, so two lines with one timestamp have
    distinct positions; lines at or before the checkpoint were shipped already."""

    def __init__(self, checkpoint: Position | None) -> None:
        self.checkpoint = checkpoint
        self._rest = ""
        self._last_ns = -1
        self._index = -1

    def feed(self, chunk: bytes) -> list[tuple[Position, str]]:
        text = self._rest + chunk.decode("utf-8", errors="replace")
        *lines, self._rest = text.split("\n")
        out = []
        for line in lines:
            parsed = parse_stamp(line)
            if parsed is None:
                continue  # not a timestamped line (cannot be positioned): never expected
            nanos, message = parsed
            self._index = self._index + 1 if nanos == self._last_ns else 0
            self._last_ns = nanos
            position = (nanos, self._index)
            if self.checkpoint is not None and position <= self.checkpoint:
                continue
            out.append((position, message.removesuffix("\r") or " "))
        return out


# --- checkpoints --------------------------------------------------------------------------


class Checkpoints:
    """One small JSON file per container: the last position the server acknowledged."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, container_id: str) -> Path:
        return self.directory / f"{container_id}.json"

    def load(self, container_id: str) -> Position | None:
        try:
            data = json.loads(self._path(container_id).read_text())
            return int(data["ns"]), int(data["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, container_id: str, position: Position) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(container_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ns": position[0], "seq": position[1]}))
        tmp.replace(path)  # atomic: a kill leaves the old or the new checkpoint

    def forget(self, container_id: str) -> None:
        self._path(container_id).unlink(missing_ok=True)


# --- the shipper --------------------------------------------------------------------------


class ShipError(Exception):
    """The server refused a batch (e.g. its log group does not exist)."""


class AckWaiter:
    """Sends a message on the websocket and waits for the server's "log_ack" of its id."""

    def __init__(self, send_now: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.send_now = send_now
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[message["id"]] = future
        try:
            await self.send_now(message)
            return await future
        finally:
            self.pending.pop(message["id"], None)

    def on_ack(self, message: Mapping[str, Any]) -> None:
        future = self.pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(dict(message))


class LogShipper:
    """One follower task per awslogs container; see the module docstring."""

    def __init__(
        self,
        source: LogSource,
        transport: Transport,
        checkpoints: Checkpoints,
        *,
        running: Callable[[str], Awaitable[bool]] | None = None,
        interval_s: float = BATCH_INTERVAL_S,
        batch_lines: int = BATCH_LINES,
    ) -> None:
        self.source = source
        self.transport = transport
        self.checkpoints = checkpoints
        self.running = running
        self.interval_s = interval_s
        self.batch_lines = batch_lines
        self.followers: dict[str, asyncio.Task[None]] = {}
        self._next_id = 0

    def follow(self, container: Mapping[str, Any], task_arn: str, runtime_id: str) -> None:
        """Start shipping a container's output if it uses awslogs (idempotent)."""
        target = awslogs_target(container, task_arn, runtime_id)
        if target is None or runtime_id in self.followers:
            return
        task = asyncio.create_task(self._follow(runtime_id, target), name=f"logs {runtime_id[:12]}")
        self.followers[runtime_id] = task
        task.add_done_callback(lambda _t: self.followers.pop(runtime_id, None))

    def forget(self, runtime_id: str) -> None:
        """The container was removed: stop following it and drop its checkpoint."""
        task = self.followers.pop(runtime_id, None)
        if task is not None:
            task.cancel()
        self.checkpoints.forget(runtime_id)

    async def close(self) -> None:
        tasks = list(self.followers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, container_id: str, target: AwsLogs) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                if await self._ship_from(container_id, target):
                    if self.running is None or not await self.running(container_id):
                        return  # the container exited and every line is shipped
                    continue  # the stream ended early: carry on from the checkpoint
                delay = RETRY_MIN_S
            except asyncio.CancelledError:
                raise
            except ShipError as exc:
                log.warning("container %s: logs to %s not shipped: %s; retrying in %.0f s",
                            container_id[:12], target.group, exc, delay)  # fmt: skip
            except Exception as exc:  # disconnected, no ack, engine trouble: retry
                log.info(
                    "container %s: shipping logs paused (%s)", container_id[:12], exc or type(exc)
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _ship_from(self, container_id: str, target: AwsLogs) -> bool:
        """Read the log from the checkpoint and ship it; True when the stream ended."""
        checkpoint = self.checkpoints.load(container_id)
        splitter = LineSplitter(checkpoint)
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=256)
        since = checkpoint[0] // NANOS if checkpoint else None

        async def pump() -> None:
            item: BaseException | None = None
            try:
                async for chunk in self.source(container_id, since):
                    await queue.put(chunk)
            except Exception as exc:
                item = exc
            await queue.put(item)

        pumper = asyncio.create_task(pump())
        loop = asyncio.get_running_loop()
        batch: list[tuple[Position, str]] = []
        size, deadline = 0, 0.0
        try:
            while True:
                timeout = max(0.0, deadline - loop.time()) if batch else None
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    item = b""
                if isinstance(item, BaseException):
                    raise item
                if item:
                    lines = [(p, m) for p, m in splitter.feed(item) if m]
                    if lines and not batch:
                        deadline = loop.time() + self.interval_s
                    batch += lines
                    size += sum(len(m) for _, m in lines)
                full = len(batch) >= self.batch_lines or size >= BATCH_BYTES
                if batch and (item is None or full or loop.time() >= deadline):
                    for start in range(0, len(batch), self.batch_lines):
                        await self._send(
                            container_id, target, batch[start : start + self.batch_lines]
                        )
                    batch, size = [], 0
                if item is None:
                    return True
        finally:
            pumper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumper

    async def _send(
        self, container_id: str, target: AwsLogs, batch: list[tuple[Position, str]]
    ) -> None:
        self._next_id += 1
        message = {
            "type": "log_events",
            "id": self._next_id,
            "group": target.group,
            "stream": target.stream,
            "createGroup": target.create_group,
            "events": [[ns, seq, text] for (ns, seq), text in batch],
        }
        ack = await asyncio.wait_for(self.transport(message), ACK_TIMEOUT_S)
        if ack.get("error"):
            raise ShipError(str(ack["error"]))
        self.checkpoints.save(container_id, batch[-1][0])


class _Channel(Protocol):
    on_log_ack: Callable[[dict[str, Any]], None] | None

    async def send_now(self, message: Mapping[str, Any]) -> None: ...


def attach(runtime: Any, channel: _Channel, data_dir: Path) -> LogShipper | None:
    """The agent's shipper, sending over `channel`; None for a runtime without
    timestamped logs (the fake runtime of simulated hosts)."""
    log_lines = getattr(runtime, "log_lines", None)
    if log_lines is None:
        return None
    waiter = AckWaiter(channel.send_now)
    channel.on_log_ack = waiter.on_ack

    async def running(container_id: str) -> bool:
        state = await runtime.inspect(container_id)
        return state is not None and state.status == "running"

    return LogShipper(log_lines, waiter, Checkpoints(data_dir / "log-checkpoints"), running=running)
