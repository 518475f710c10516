"""The server's end of the agent websocket: who is connected, and what they should run.

`AgentHub.notify(instances, task_arns)` hands a commit's changes to `DesiredSets`
(api/agent_desired.py), which reads only the named tasks and wakes the senders of
the instances whose set changed; each sender then sends one delta (bursts collapse
into one message), or a full set on a connect whose generation the server does
not hold (wire/agent.py). A state message from an agent (its reports,
coalesced per task) is applied with every other state message of the same event-loop
turn in one transaction (`apply_report_batches`). Connection
state is mirrored into the store (`agentConnected`, `disconnectedAt`) so
DescribeContainerInstances sees it, and into `self.away` (controllers/instances.py)
so the instance controller's pass reads only the instances that are away.

Threads (a blocking store: PostgreSQL): the store work (connection mirror, report
batches, update status) runs in the store's thread pool (store/offload.py), one report
batch at a time so they commit in arrival order; `DesiredSets` runs all its calls,
reads included, in one thread of its own (`Serial`). The event loop keeps the
websockets, the events and the queues; what a thread has for them comes back through
`ApiContext.on_loop`. On SQLite all of it runs inline, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from dockyard.api import agent_package
from dockyard.api.agent_desired import DesiredSets
from dockyard.api.app import authenticate
from dockyard.context import ApiContext
from dockyard.controllers.instances import Away
from dockyard.errors import AwsError, ClientException
from dockyard.instances import agent_update
from dockyard.logs import shipping
from dockyard.metrics.ecs import ecs_samples
from dockyard.metrics.latest import MetricsSink
from dockyard.store import Kind
from dockyard.store.offload import Serial, call_after_requests, off_loop
from dockyard.tasks.reports import apply_report_batches
from dockyard.wire import codec
from dockyard.wire.agent import EXEC_FROM_AGENT, HEARTBEAT_S, DesiredMessage

log = logging.getLogger("dockyard.agents")
RESCAN_S = 600.0  # safety net: diff each connected instance's whole set this often,
RESCANS_PER_S = 2.0  # or less often when there are more than 1,200 connected agents
REPORT_BATCH = 256  # state messages per transaction (bounds how long one holds the loop)
# State messages are applied this long after the first of a batch arrived: the messages
# of that window share one transaction (one capacity row per instance, one commit). With
# requests served first (offload.requests_first) the loop polls its sockets more often,
# and applying what one poll brought halved the batches and cost ~10 % more server CPU
# per placement (bench/README.md, 2026-12-03 fourth session). A task's RUNNING shows
# up to this much later.
REPORT_WINDOW_S = 0.02


class Connection:
    def __init__(self, instance_arn: str, ws: web.WebSocketResponse, generation: int) -> None:
        self.instance_arn = instance_arn
        self.ws = ws
        self.dirty = asyncio.Event()
        self.dirty.set()
        self.sync: int | None = generation  # a generation to sync from (connect, resync)
        self.rescan_at = 0.0  # next safety rescan (time.monotonic())
        # log streams in flight: request id -> chunks (None ends the stream)
        self.log_streams: dict[str, asyncio.Queue[str | None]] = {}
        # exec sessions in flight (api/exec.py): id -> exec-output/exec-exit messages
        self.exec_streams: dict[str, asyncio.Queue[dict[str, Any] | None]] = {}


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
        self.serial = Serial(ctx.store.blocking, "agent-desired")  # DesiredSets only
        schedule = self.serial.submit if ctx.store.blocking else None
        self.desired = DesiredSets(ctx.store, self._wake_soon, schedule=schedule)
        self.rescan_s = RESCAN_S
        self.away = Away()  # instances whose agent is not connected (the controller's)
        # Several servers on one database (dockyard.ha): this server's name, kept in the
        # instance documents of the agents connected here ("agentServer"); None: alone.
        self.server_id: str | None = None
        self._reports: list[tuple[str, Any]] = []  # state messages of this loop turn
        self._pump: asyncio.Task[None] | None = None  # applying them (blocking store)
        # per instance: its connect and disconnect mirror one after the other
        self._mirrors: dict[str, asyncio.Lock] = {}
        self._statuses = asyncio.Lock()
        ctx.on_desired_change = self.notify
        ctx.on_agent_update = self.request_update
        self._updates: set[asyncio.Task[None]] = set()  # `update` messages being sent

    def connection_count(self) -> int:
        return len(self.connections)

    def notify(
        self,
        instance_arns: set[str],
        task_arns: frozenset[str] | None = None,
        docs: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """A commit changed what these instances run (`task_arns`: which tasks, if known;
        `docs`: their committed documents, if the writer has them)."""
        self.serial.submit(lambda: self.desired.changed(instance_arns, task_arns, docs))

    def _wake_soon(self, instance_arn: str) -> None:
        """DesiredSets' wake: from its thread, handed to the loop."""
        self.ctx.on_loop(self._wake, instance_arn)

    def _wake(self, instance_arn: str) -> None:
        connection = self.connections.get(instance_arn)
        if connection is not None:
            connection.dirty.set()

    def mark_all_disconnected(self) -> None:
        """At start-up nobody is connected yet; the grace period starts now. Seeds
        `self.away` with every ACTIVE/DRAINING instance (this pass reads them all once)."""
        now = self.ctx.now()
        since: dict[str, float] = {}
        with self.ctx.store.transaction() as tx:
            for doc in tx.find(Kind.CONTAINER_INSTANCE, {"status": ["ACTIVE", "DRAINING"]}):
                if doc.get("agentConnected") and not self._mine(doc):
                    continue  # connected to another server
                if doc.get("agentConnected") or "disconnectedAt" not in doc:
                    doc["agentConnected"] = False
                    doc["disconnectedAt"] = now
                    tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc)
                since[doc["containerInstanceArn"]] = float(doc["disconnectedAt"])
        self.away.seed(since)

    async def _set_connected(self, instance_arn: str, connected: bool) -> dict[str, Any] | None:
        """Mirror the connection into the store and `self.away`; returns the instance
        document (None: unknown or INACTIVE)."""
        doc, wrote = await off_loop(self.ctx.store, self._write_connected, instance_arn, connected)
        if doc is None or not wrote:
            return doc
        if connected:
            self.away.connected(instance_arn)
        else:
            self.away.disconnected(instance_arn, float(doc["disconnectedAt"]))
        self.ctx.instances_changed({instance_arn})  # placement may use it (or not) now
        return doc

    def _write_connected(
        self, instance_arn: str, connected: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        """The store half of `_set_connected` (any thread): (document, whether written)."""
        with self.ctx.store.transaction() as tx:
            doc = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
            if doc is None or doc["status"] == "INACTIVE":
                return None, False
            if not connected and not self._mine(doc):
                return doc, False  # the agent moved to another server meanwhile: its state
            doc["agentConnected"] = connected
            if self.server_id is not None:
                doc["agentServer"] = self.server_id
            if connected:
                doc.pop("disconnectedAt", None)
            else:
                doc["disconnectedAt"] = self.ctx.now()
            tx.update(Kind.CONTAINER_INSTANCE, instance_arn, doc)
        return doc, True

    def _mirror(self, instance_arn: str) -> asyncio.Lock:
        """The lock that orders an instance's connect and disconnect store writes (with
        threads, a reconnect's write could otherwise land before the old socket's)."""
        return self._mirrors.setdefault(instance_arn, asyncio.Lock())

    def _mine(self, doc: Mapping[str, Any]) -> bool:
        """Whether the instance's agent connection (if any) is this server's."""
        return self.server_id is None or doc.get("agentServer", self.server_id) == self.server_id

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
        try:
            generation = int(request.query.get("generation", "0"))
        except ValueError:
            generation = 0
        if self.ctx.loop is None:  # ApiContext.on_loop hops here (app.py sets it too)
            self.ctx.loop = asyncio.get_running_loop()
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024 * 1024)
        connection = Connection(instance_arn, ws, generation)
        async with self._mirror(instance_arn):
            doc = await self._set_connected(instance_arn, True)
            if doc is None:
                return web.json_response(
                    {"__type": "ClientException",
                     "message": "Unknown or inactive container instance."},
                    status=400,
                )  # fmt: skip
            previous = self.connections.get(instance_arn)
            self.connections[instance_arn] = connection
        try:
            await self._serve(connection, request, previous, doc)
        finally:
            for queue in connection.log_streams.values():
                queue.put_nowait(None)
            for exec_queue in connection.exec_streams.values():
                exec_queue.put_nowait(None)
            async with self._mirror(instance_arn):
                if self.connections.get(instance_arn) is connection:
                    del self.connections[instance_arn]
                    await self._set_connected(instance_arn, False)
                    log.info("agent disconnected: %s", instance_arn)
        return ws

    async def _serve(
        self,
        connection: Connection,
        request: web.Request,
        previous: Connection | None,
        doc: dict[str, Any],
    ) -> None:
        """One agent's session, from the websocket's prepare to its close."""
        ws = connection.ws
        await ws.prepare(request)
        if previous is not None:
            await previous.ws.close()
        log.info("agent connected: %s", connection.instance_arn)
        target = agent_update.pending_target(doc)
        if target is not None:  # an update under way resumes on reconnect
            self._start_update(connection, target)
        sender = asyncio.create_task(self._send_loop(connection))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(connection, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        except ConnectionResetError:  # gone while aiohttp answered its ping: a disconnect
            log.info("agent connection reset: %s", connection.instance_arn)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def rescan_period(self) -> float:
        """How often each agent's whole desired set is diffed against the store (the
        safety net): every `rescan_s`, stretched so that all agents together rescan at
        most RESCANS_PER_S instances a second. A rescan reads and decodes every live task
        of the instance: at 5,000 instances a 600 s period re-read 1,000,000 tasks every
        10 minutes (~10 % of the server, bench/README.md)."""
        return max(self.rescan_s, len(self.connections) / RESCANS_PER_S)

    async def _send_loop(self, connection: Connection) -> None:
        """Send deltas when woken; wake on our own to resend unacknowledged ones."""
        connection.rescan_at = time.monotonic() + self.rescan_period() * (0.5 + random.random())
        while not connection.ws.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.dirty.wait(), self.desired.ack_timeout_s)
            connection.dirty.clear()
            rescan = time.monotonic() >= connection.rescan_at
            if rescan:
                connection.rescan_at = time.monotonic() + self.rescan_period()
            sync, connection.sync = connection.sync, None
            arn, now = connection.instance_arn, self.ctx.now()
            message = await self.serial.call(
                lambda: self.desired.message_for(arn, now, sync=sync, rescan=rescan)  # noqa: B023
            )
            if message is None:
                continue
            try:
                await self._send(connection, message)
            except (ConnectionError, RuntimeError):
                return
            if await self.serial.call(lambda: self.desired.view(arn).has_unsent()):  # noqa: B023
                connection.dirty.set()

    async def _send(self, connection: Connection, message: DesiredMessage) -> None:
        await connection.ws.send_str(codec.dumps(message))

    def _receive(self, connection: Connection, data: str) -> None:
        instance_arn = connection.instance_arn
        try:
            message = codec.loads_any(data)
        except ValueError:
            log.warning("agent %s sent invalid JSON", instance_arn)
            return
        if message.get("type") in EXEC_FROM_AGENT:  # `dockyard task exec` (api/exec.py)
            exec_queue = connection.exec_streams.get(str(message.get("id")))
            if exec_queue is not None:
                exec_queue.put_nowait(message)
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
        if message.get("type") == shipping.MESSAGE_TYPE:  # container output (awslogs)
            shipping.receive(
                self.ctx.logs, message, int(self.ctx.now() * 1000), connection.ws.send_str
            )
            return
        if message.get("type") == "metrics":
            # Pre-aggregated per service on the agent: one sample per instance x service.
            self.sink.put(ecs_samples(message, self.ctx.now()))
            return
        kind = message.get("type")
        if kind == "update_status":  # UpdateContainerAgent progress
            self._background(self._record_status(instance_arn, message))
            return
        if kind == "ack" and isinstance(message.get("generation"), int):
            generation, now = message["generation"], self.ctx.now()
            self.serial.submit(lambda: self.desired.view(instance_arn).ack(generation, now))
            return
        if kind == "resync" and isinstance(message.get("generation"), int):
            connection.sync = message["generation"]
            connection.dirty.set()
            return
        if kind != "state" or not isinstance(message.get("tasks"), list):
            return
        if self.ctx.store.blocking:
            if self._pump is None:  # one batch at a time, in arrival order
                self._pump = asyncio.get_running_loop().create_task(self._pump_reports())
        elif not self._reports:
            asyncio.get_running_loop().call_later(REPORT_WINDOW_S, self._apply_reports)
        self._reports.append((instance_arn, message["tasks"]))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task held until it ends (its failure is logged)."""
        task = asyncio.get_running_loop().create_task(work)
        self._updates.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._updates.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent message handling failed", exc_info=task.exception())

    async def _pump_reports(self) -> None:
        """Blocking store: apply the state messages in the store's thread pool, one
        batch after the other (each sees the one before it committed)."""
        try:
            while self._reports:
                batches = self._reports[:REPORT_BATCH]
                del self._reports[:REPORT_BATCH]
                moved = await off_loop(
                    self.ctx.store, self._commit_reports, batches, self.ctx.now()
                )
                self._after_reports(moved)
        finally:
            self._pump = None

    def _apply_reports(self) -> None:
        """Apply every state message received in this event-loop turn in one transaction
        (`apply_report_batches`); if that fails, each message alone, so one bad message
        costs only itself."""
        batches = self._reports[:REPORT_BATCH]
        del self._reports[:REPORT_BATCH]
        if not batches:
            return
        if self._reports:  # the rest later: requests that arrived meanwhile go first
            call_after_requests(self._apply_reports)
        self._after_reports(self._commit_reports(batches, self.ctx.now()))

    def _commit_reports(self, batches: list[tuple[str, Any]], now: float) -> list[dict[str, Any]]:
        """The store half of applying state messages (any thread): the tasks moved."""
        try:
            with self.ctx.store.transaction() as tx:
                moved = apply_report_batches(tx, batches, now)
        except Exception:
            if len(batches) == 1:
                log.exception("applying a state message of %s failed", batches[0][0])
                return []
            moved = []
            for batch in batches:
                try:
                    with self.ctx.store.transaction() as tx:
                        moved += apply_report_batches(tx, [batch], now)
                except Exception:
                    log.exception("applying a state message of %s failed", batch[0])
        return moved

    def _after_reports(self, moved: list[dict[str, Any]]) -> None:
        """On the loop, after the commit: tell the desired sets and the service runner."""
        if moved:
            stopped: dict[str, list[str]] = {}
            for task in moved:
                if task["lastStatus"] == "STOPPED":
                    stopped.setdefault(task.get("containerInstanceArn", ""), []).append(
                        task["taskArn"]
                    )
            for instance_arn, arns in stopped.items():
                forget = functools.partial(self.desired.reported_stopped, instance_arn, arns)
                self.serial.submit(forget)
            self.ctx.tasks_changed({(t.get("clusterArn", ""), t.get("group")) for t in moved})

    def request_update(self, instance_arn: str) -> None:
        """Send the agent the `update` message if its instance has an update under way
        that it has not yet applied (instances/agent_update.py)."""
        connection = self.connections.get(instance_arn)
        if connection is not None:
            self._start_update(connection, None)

    def _start_update(self, connection: Connection, target: str | None) -> None:
        self._background(self._send_update(connection, target))

    def _instance(self, instance_arn: str) -> dict[str, Any] | None:
        with self.ctx.store.read() as tx:
            return tx.get(Kind.CONTAINER_INSTANCE, instance_arn)

    async def _record_status(self, instance_arn: str, message: dict[str, Any]) -> None:
        async with self._statuses:  # FIFO: update statuses are written in arrival order
            await off_loop(
                self.ctx.store, agent_update.record_status, self.ctx.store, instance_arn, message
            )

    async def _send_update(self, connection: Connection, target: str | None) -> None:
        """Send the `update` message for `target` (None: read the pending target now)."""
        if target is None:
            doc = await off_loop(self.ctx.store, self._instance, connection.instance_arn)
            target = agent_update.pending_target(doc) if doc is not None else None
            if target is None:
                return
        built = await agent_package.server_package()
        if built.version != target:  # requested from a server running other code
            failed = {
                "status": "FAILED",
                "version": target,
                "reason": f"The server now serves version {built.version}, not {target}.",
            }
            await self._record_status(connection.instance_arn, failed)
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.ws.send_str(json.dumps(agent_package.update_message(built)))

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
        if self._pump is not None:
            await self._pump
        while self._reports:  # received before the close: applied, not dropped
            batches = self._reports[:REPORT_BATCH]
            del self._reports[:REPORT_BATCH]
            self._after_reports(
                await off_loop(self.ctx.store, self._commit_reports, batches, self.ctx.now())
            )
        for connection in list(self.connections.values()):
            await connection.ws.close()
        self.serial.close()
