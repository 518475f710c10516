"""The agent's websocket to the server: connect, resync, receive desired sets, report.

Reconnects forever with capped exponential backoff; every (re)connection starts
with the full state of every task this agent knows, so a lost report heals.
The upgrade request is SigV4-signed when the agent has credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import UTC, datetime
from urllib.parse import urlencode

import aiohttp

from dockyard.agent.manager import TaskManager
from dockyard.agent.protocol import HEARTBEAT_S, WS_PATH, TaskReport

log = logging.getLogger("dockyard.agent.channel")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0


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
    ) -> None:
        query = urlencode({"cluster": cluster_arn, "containerInstance": instance_arn})
        self.url = f"{endpoint}{WS_PATH}?{query}"
        self.manager = manager
        self.credentials = credentials
        self.region = region
        self.connected = asyncio.Event()

    async def run(self) -> None:
        backoff = BACKOFF_MIN_S
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self._session(session)
                    backoff = BACKOFF_MIN_S
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("connection to the server failed: %s", exc)
                finally:
                    self.connected.clear()
                    self.manager.detach()
                await asyncio.sleep(backoff * (1 + random.random() / 2))
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self, session: aiohttp.ClientSession) -> None:
        headers = (
            signed_headers(self.url, *self.credentials, self.region) if self.credentials else {}
        )
        async with session.ws_connect(
            self.url, headers=headers, heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024 * 1024
        ) as ws:
            log.info("connected to %s", self.url.split("?")[0])
            outbox: asyncio.Queue[TaskReport] = asyncio.Queue()
            current = self.manager.attach(outbox.put_nowait)
            self.connected.set()
            await ws.send_str(json.dumps({"type": "state", "tasks": current}))
            sender = asyncio.create_task(self._drain(ws, outbox))
            try:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        data = json.loads(message.data)
                        if data.get("type") == "desired":
                            self.manager.apply_desired(data["tasks"])
                    elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                        break
            finally:
                sender.cancel()
            log.warning("server closed the connection")

    @staticmethod
    async def _drain(
        ws: aiohttp.ClientWebSocketResponse, outbox: asyncio.Queue[TaskReport]
    ) -> None:
        while True:
            batch = [await outbox.get()]
            while not outbox.empty():
                batch.append(outbox.get_nowait())
            await ws.send_str(json.dumps({"type": "state", "tasks": batch}))
