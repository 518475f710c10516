"""The agent's websocket to the server: connect, resync, receive desired sets, report.

Reconnects forever with capped exponential backoff, giving the server the
generation of the desired set it holds (wire/agent.py); every (re)connection
starts with the full state of every task this agent knows, so a lost report heals.
Desired messages go through `AgentView` (wire/generations.py): applied and
acknowledged, or answered with a resync request. Task reports are coalesced per
task for `REPORT_WINDOW_S` after each send (the first one goes at once), so a
burst becomes one message and one server transaction.
The upgrade request is SigV4-signed when the agent has credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp

from dockyard.agent.exec import ExecRelay
from dockyard.agent.manager import TaskManager
from dockyard.wire import codec
from dockyard.wire.agent import EXEC_TO_AGENT, HEARTBEAT_S, WS_PATH, DesiredMessage, TaskReport
from dockyard.wire.generations import AgentView, Applied, Resync

log = logging.getLogger("dockyard.agent.channel")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0
REPORT_WINDOW_S = 0.05  # reports arriving within this long after a send share a message
REPORT_BATCH_MAX = 1000  # tasks per state message


def signed_headers(url: str, access_key: str, secret_key: str, region: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url, data=b"")
    request.context["timestamp"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    SigV4Auth(Credentials(access_key, secret_key), "ecs", region).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


class Channel:
    def __init__(
        self,
        endpoint: str,
        cluster_arn: str,
        instance_arn: str,
        manager: TaskManager,
        *,
        credentials: tuple[str, str] | None = None,
        region: str = "us-east-1",
        rotate: Callable[[], str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        # Several servers (one PostgreSQL): after a failed or ended session the next one,
        # from the agent's one rotation (AgentConfig.rotate_endpoint).
        self.rotate = rotate
        self.cluster_arn = cluster_arn
        self.instance_arn = instance_arn
        self.manager = manager
        self.view = AgentView()
        self.credentials = credentials
        self.region = region
        self.connected = asyncio.Event()
        self.on_log_ack: Callable[[dict[str, Any]], None] | None = None  # logs_shipper
        self.on_update: Callable[[dict[str, Any]], None] | None = None  # agent/update.py
        self._live_send: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    async def run(self) -> None:
        backoff = BACKOFF_MIN_S
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self._session(session)
                    backoff = BACKOFF_MIN_S
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("connection to the server failed: %s", exc)
                except Exception:  # a bug or a message it cannot handle: never give up
                    log.exception("agent session failed; reconnecting")
                finally:
                    self.connected.clear()
                    self.manager.detach()
                    self._next_server()
                await asyncio.sleep(backoff * (1 + random.random() / 2))
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _next_server(self) -> None:
        if self.rotate is not None:
            self.endpoint = self.rotate()

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}{WS_PATH}"

    @property
    def url(self) -> str:
        """The connect URL, with the generation of the set this agent holds."""
        query = urlencode(
            {
                "cluster": self.cluster_arn,
                "containerInstance": self.instance_arn,
                "generation": self.view.generation,
            }
        )
        return f"{self.base_url}?{query}"

    async def _session(self, session: aiohttp.ClientSession) -> None:
        url = self.url
        headers = signed_headers(url, *self.credentials, self.region) if self.credentials else {}
        self.view.resync_asked = False
        async with session.ws_connect(
            url, headers=headers, heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024 * 1024
        ) as ws:
            log.info("connected to %s", self.base_url)
            outbox: asyncio.Queue[TaskReport] = asyncio.Queue()
            lock = asyncio.Lock()

            async def send(message: dict[str, Any]) -> None:
                async with lock:
                    await ws.send_str(codec.dumps(message))

            current = self.manager.attach(outbox.put_nowait)
            self.connected.set()
            self._live_send = send
            await send({"type": "state", "tasks": current})
            sender = asyncio.create_task(self._drain(send, outbox))
            logs = LogRelay(self.manager, send)
            execs = ExecRelay(self.manager, send)  # dockyard task exec (agent/exec.py)
            try:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        data = codec.loads_any(message.data)
                        kind = data.get("type")
                        if kind == "desired":
                            await self._desired(data, send)
                        elif kind == "logs":
                            logs.start(data)
                        elif kind == "log_ack" and self.on_log_ack is not None:
                            self.on_log_ack(data)  # agent/logs_shipper.py
                        elif kind == "logs_cancel":
                            logs.cancel(str(data.get("id")))
                        elif kind in EXEC_TO_AGENT:
                            execs.handle(data)
                        elif kind == "update" and self.on_update is not None:
                            self.on_update(data)  # UpdateContainerAgent
                    elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                        break
            finally:
                self._live_send = None
                sender.cancel()
                logs.cancel_all()
                execs.cancel_all()
            log.warning("server closed the connection")

    async def _desired(
        self, message: DesiredMessage, send: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        decision = self.view.receive(message)
        if isinstance(decision, Resync):
            log.info("cannot apply desired generation %s; asking to resync", message["generation"])
            await send({"type": "resync", "generation": decision.generation})
            return
        if isinstance(decision, Applied):
            if decision.full:
                self.manager.apply_desired(decision.tasks)
            else:
                self.manager.apply_delta(decision.tasks, decision.removed)
        await send({"type": "ack", "generation": self.view.generation})

    async def send_now(self, message: Mapping[str, Any]) -> None:
        """Send on the live connection (shipped logs); ConnectionError without one."""
        send = self._live_send
        if send is None:
            raise ConnectionError("not connected to the server")
        await send(dict(message))

    async def send_metrics(self, message: Mapping[str, Any]) -> None:
        """Send a metrics message now, or drop it: metrics are not worth a backlog."""
        send = self._live_send
        if send is not None:
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await send(dict(message))

    @staticmethod
    async def _drain(
        send: Callable[[dict[str, Any]], Awaitable[None]], outbox: asyncio.Queue[TaskReport]
    ) -> None:
        """Send reports, the latest per task, at most one message per window."""
        while True:
            first = await outbox.get()
            batch = {first["taskArn"]: first}
            while not outbox.empty() and len(batch) < REPORT_BATCH_MAX:
                report = outbox.get_nowait()
                batch[report["taskArn"]] = report  # each report is the task's whole state
            await send({"type": "state", "tasks": list(batch.values())})
            await asyncio.sleep(REPORT_WINDOW_S)


class LogRelay:
    """Streams a container's output to the server for `dockyard task logs`."""

    MAX_CHUNK = 32 * 1024

    def __init__(
        self, manager: TaskManager, send: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        self.manager = manager
        self.send = send
        self.streams: dict[str, asyncio.Task[None]] = {}

    def start(self, request: dict[str, Any]) -> None:
        request_id = str(request.get("id"))
        task = asyncio.create_task(self._relay(request_id, request))
        self.streams[request_id] = task
        task.add_done_callback(lambda _t: self.streams.pop(request_id, None))

    def cancel(self, request_id: str) -> None:
        task = self.streams.pop(request_id, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for request_id in list(self.streams):
            self.cancel(request_id)

    async def _relay(self, request_id: str, request: dict[str, Any]) -> None:
        error = None
        try:
            container_id = self.manager.container_id(
                str(request.get("taskArn")), request.get("container")
            )
            if container_id is None:
                error = "the container has not started on this host, or was removed"
            else:
                tail = request.get("tail")
                async for chunk in self.manager.ctx.runtime.logs(
                    container_id,
                    follow=bool(request.get("follow")),
                    tail=int(tail) if tail is not None else None,
                ):
                    text = chunk.decode("utf-8", errors="replace")
                    for start in range(0, len(text), self.MAX_CHUNK):
                        await self.send(
                            {
                                "type": "log",
                                "id": request_id,
                                "data": text[start : start + self.MAX_CHUNK],
                            }
                        )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"cannot read logs: {exc}"
        with contextlib.suppress(Exception):
            message: dict[str, Any] = {"type": "log", "id": request_id, "done": True}
            if error:
                message["error"] = error
            await self.send(message)
