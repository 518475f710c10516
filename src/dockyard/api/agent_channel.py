"""The server's end of the agent websocket: who is connected, and what they should run.

`AgentHub.notify(arns)` is level-triggered: it marks instances dirty and each
connection's sender pushes the full desired task set (read fresh from the
store), so bursts of changes collapse into one message. Reports from the agent
are applied in one transaction each. Connection state is mirrored into the
store (`agentConnected`, `disconnectedAt`) so DescribeContainerInstances and the
instance controller see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from dockyard.agent.protocol import HEARTBEAT_S, DesiredTask
from dockyard.api.app import authenticate
from dockyard.api.context import ApiContext
from dockyard.errors import AwsError, ClientException
from dockyard.lifecycle import LIVE_STATUSES
from dockyard.metrics.ecs import ecs_samples
from dockyard.metrics.latest import MetricsSink
from dockyard.store import Kind
from dockyard.tasks.reports import apply_report

log = logging.getLogger("dockyard.agents")


class Connection:
    def __init__(self, instance_arn: str, ws: web.WebSocketResponse) -> None:
        self.instance_arn = instance_arn
        self.ws = ws
        self.dirty = asyncio.Event()
        self.dirty.set()
        # log streams in flight: request id -> chunks (None ends the stream)
        self.log_streams: dict[str, asyncio.Queue[str | None]] = {}


class AgentHub:
    def __init__(
        self,
        ctx: ApiContext,
        credentials: Mapping[str, str] | None = None,
        sink: MetricsSink | None = None,
    ) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.sink = sink if sink is not None else MetricsSink(ctx.metrics)
        self.connections: dict[str, Connection] = {}
        self._version = time.time_ns()
        ctx.on_desired_change = self.notify

    def connection_count(self) -> int:
        return len(self.connections)

    def notify(self, instance_arns: set[str]) -> None:
        for arn in instance_arns:
            connection = self.connections.get(arn)
            if connection is not None:
                connection.dirty.set()

    def mark_all_disconnected(self) -> None:
        """At start-up nobody is connected yet; the grace period starts now."""
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            for doc in tx.find(Kind.CONTAINER_INSTANCE, {"status": ["ACTIVE", "DRAINING"]}):
                if doc.get("agentConnected") or "disconnectedAt" not in doc:
                    doc["agentConnected"] = False
                    doc["disconnectedAt"] = now
                    tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc)

    def desired(self, instance_arn: str) -> dict[str, Any]:
        with self.ctx.store.read() as tx:
            rows = tx.find(
                Kind.TASK, {"instance": instance_arn, "last_status": list(LIVE_STATUSES)}
            )
            definitions: dict[str, dict[str, Any]] = {}
            tasks: list[DesiredTask] = []
            for task in rows:
                arn = task["taskDefinitionArn"]
                if arn not in definitions:
                    definitions[arn] = tx.get(Kind.TASK_DEFINITION, arn) or {}
                entry: DesiredTask = {
                    "taskArn": task["taskArn"],
                    "desiredStatus": task["desiredStatus"],
                    "lastStatus": task["lastStatus"],
                    "taskDefinition": definitions[arn],
                    "overrides": task.get("overrides", {}),
                    "containers": [
                        {"name": c["name"], "containerArn": c["containerArn"]}
                        for c in task["containers"]
                    ],
                }
                if task.get("group"):
                    entry["group"] = task["group"]
                tasks.append(entry)
        self._version += 1
        return {"type": "desired", "version": self._version, "tasks": tasks}

    def _set_connected(self, instance_arn: str, connected: bool) -> bool:
        with self.ctx.store.transaction() as tx:
            doc = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
            if doc is None or doc["status"] == "INACTIVE":
                return False
            doc["agentConnected"] = connected
            if connected:
                doc.pop("disconnectedAt", None)
            else:
                doc["disconnectedAt"] = self.ctx.now()
            tx.update(Kind.CONTAINER_INSTANCE, instance_arn, doc)
        return True

    def _authenticate(self, request: web.Request) -> None:
        authenticate(request, b"", self.credentials)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authenticate(request)
        except AwsError as error:
            return web.json_response(
                {"__type": error.code, "message": error.message}, status=error.status
            )
        instance_arn = request.query.get("containerInstance", "")
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024 * 1024)
        if not self._set_connected(instance_arn, True):
            return web.json_response(
                {"__type": "ClientException", "message": "Unknown or inactive container instance."},
                status=400,
            )
        await ws.prepare(request)
        previous = self.connections.get(instance_arn)
        connection = Connection(instance_arn, ws)
        self.connections[instance_arn] = connection
        if previous is not None:
            await previous.ws.close()
        log.info("agent connected: %s", instance_arn)
        sender = asyncio.create_task(self._send_loop(connection))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(connection, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            for queue in connection.log_streams.values():
                queue.put_nowait(None)
            if self.connections.get(instance_arn) is connection:
                del self.connections[instance_arn]
                self._set_connected(instance_arn, False)
                log.info("agent disconnected: %s", instance_arn)
        return ws

    async def _send_loop(self, connection: Connection) -> None:
        while not connection.ws.closed:
            await connection.dirty.wait()
            connection.dirty.clear()
            try:
                await connection.ws.send_str(json.dumps(self.desired(connection.instance_arn)))
            except (ConnectionError, RuntimeError):
                return

    def _receive(self, connection: Connection, data: str) -> None:
        instance_arn = connection.instance_arn
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("agent %s sent invalid JSON", instance_arn)
            return
        if message.get("type") == "log":
            queue = connection.log_streams.get(str(message.get("id")))
            if queue is not None:
                if message.get("data"):
                    queue.put_nowait(str(message["data"]))
                if message.get("done"):
                    if message.get("error"):
                        queue.put_nowait(f"[dockyard] {message['error']}\n")
                    queue.put_nowait(None)
            return
        if message.get("type") == "metrics":
            # Pre-aggregated per service on the agent: one sample per instance x service.
            self.sink.put(ecs_samples(message, self.ctx.now()))
            return
        if message.get("type") != "state":
            return
        now = self.ctx.now()
        moved = False
        with self.ctx.store.transaction() as tx:
            for report in message.get("tasks", []):
                if isinstance(report, dict) and "taskArn" in report:
                    moved |= apply_report(tx, report, instance_arn, now) is not None
        if moved:
            self.ctx.tasks_changed()

    async def stream_logs(
        self,
        instance_arn: str,
        task_arn: str,
        container: str | None,
        follow: bool,
        tail: int | None,
    ) -> AsyncIterator[str]:
        """A task's container output, read by its agent and relayed over the websocket."""
        connection = self.connections.get(instance_arn)
        if connection is None:
            raise ClientException(
                "The agent of this task's container instance is not connected; its logs cannot "
                "be read now."
            )
        request_id = uuid.uuid4().hex
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        connection.log_streams[request_id] = queue
        request = {
            "type": "logs",
            "id": request_id,
            "taskArn": task_arn,
            "container": container,
            "follow": follow,
            "tail": tail,
        }
        try:
            await connection.ws.send_str(json.dumps(request))
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            connection.log_streams.pop(request_id, None)
            if not connection.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await connection.ws.send_str(
                        json.dumps({"type": "logs_cancel", "id": request_id})
                    )

    async def close(self) -> None:
        for connection in list(self.connections.values()):
            await connection.ws.close()
