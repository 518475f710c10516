"""`GET /dockyard/v1/exec/<sessionId>`: the websocket of an ExecuteCommand session.

    client (dockyard task exec)  <-ws->  this relay  <-agent ws->  agent (agent/exec.py)

The client opens the `streamUrl` ExecuteCommand answered with, giving its one-time
`tokenValue` in the `X-Dockyard-Exec-Token` header (or `token=` in the query) and
`tty=0|1&rows=&cols=` in the query (tty defaults to 1, as ECS Exec always allocates one).

    client -> relay   binary frames: stdin bytes
                      text {"type": "resize", "rows": R, "cols": C} | {"type": "eof"}
    relay -> client   binary frames: one stream byte (1 stdout, 2 stderr) + output bytes
                      text {"type": "exit", "exitCode": N} (with "error" when the command
                      could not run, or the agent went away), then the relay closes

The token is the credential (it came from a signed ExecuteCommand call); it names the
task, the container, the command and the instance, and is redeemed once
(api/ecs/execute_command.py). The relay needs the agent connected to THIS server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from dockyard.api.agent_channel import AgentHub, Connection
from dockyard.api.ecs.execute_command import (
    PATH_PREFIX,
    Redeemed,
    TargetNotConnectedException,
    read_token,
)
from dockyard.api.json_protocol import json_error
from dockyard.errors import AwsError
from dockyard.wire.agent import HEARTBEAT_S

log = logging.getLogger("dockyard.exec")
PATH = PATH_PREFIX + "{session}"
TOKEN_HEADER = "X-Dockyard-Exec-Token"
STREAMS = {"1": 1, "2": 2}


def _size(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) < 10000 else None


async def _to_agent(connection: Connection, message: dict[str, Any]) -> None:
    if not connection.ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.ws.send_str(json.dumps(message))


async def _client_to_agent(
    ws: web.WebSocketResponse, connection: Connection, session_id: str
) -> None:
    """Stdin, resizes and end-of-input from the client, as exec-* messages to the agent."""
    async for message in ws:
        if message.type == WSMsgType.BINARY:
            data = base64.b64encode(message.data).decode()
            await _to_agent(connection, {"type": "exec-input", "id": session_id, "data": data})
        elif message.type == WSMsgType.TEXT:
            try:
                control = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(control, dict):
                continue
            if control.get("type") == "eof":
                await _to_agent(connection, {"type": "exec-input", "id": session_id, "eof": True})
            elif control.get("type") == "resize":
                rows, cols = _size(str(control.get("rows"))), _size(str(control.get("cols")))
                if rows and cols:
                    resize = {"type": "exec-resize", "id": session_id, "rows": rows, "cols": cols}
                    await _to_agent(connection, resize)
        elif message.type == WSMsgType.ERROR:
            break


async def _agent_to_client(
    ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None]
) -> dict[str, Any]:
    """Output to the client until the agent reports the exit (or goes away)."""
    while (message := await queue.get()) is not None:
        if message.get("type") == "exec-output":
            try:
                data = base64.b64decode(str(message.get("data", "")))
            except ValueError:
                continue
            stream = STREAMS.get(str(message.get("stream", 1)), 1)
            await ws.send_bytes(bytes([stream]) + data)
        elif message.get("type") == "exec-exit":
            result: dict[str, Any] = {"type": "exit", "exitCode": message.get("exitCode")}
            if message.get("error"):
                result["error"] = str(message["error"])
            return result
    return {"type": "exit", "exitCode": None, "error": "the agent disconnected"}


def make_handler(hub: AgentHub) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    redeemed = Redeemed()

    async def handle(request: web.Request) -> web.StreamResponse:
        session_id = request.match_info["session"]
        token = request.headers.get(TOKEN_HEADER) or request.query.get("token", "")
        try:
            grant = read_token(token, session_id, time.time())
            connection = hub.connections.get(grant.instance_arn)
            if connection is None:
                raise TargetNotConnectedException(
                    "The agent of the task's container instance is not connected to this server."
                )
            redeemed.redeem(grant, time.time())
        except AwsError as error:
            return json_error(error)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        stream_id = f"{session_id}-{uuid.uuid4().hex[:8]}"
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        connection.exec_streams[stream_id] = queue
        start: dict[str, Any] = {
            "type": "exec-start",
            "id": stream_id,
            "taskArn": grant.task_arn,
            "container": grant.container,
            "command": grant.command,
            "tty": request.query.get("tty", "1") != "0",
        }
        rows, cols = _size(request.query.get("rows")), _size(request.query.get("cols"))
        if rows and cols:
            start.update(rows=rows, cols=cols)
        log.info("exec %s in %s/%s: %s", session_id, grant.task_arn, grant.container, grant.command)
        await _to_agent(connection, start)
        pump = asyncio.create_task(_client_to_agent(ws, connection, stream_id))
        output = asyncio.create_task(_agent_to_client(ws, queue))
        finished = False
        try:
            # the pump ends only when the client closed its websocket
            await asyncio.wait({pump, output}, return_when=asyncio.FIRST_COMPLETED)
            if output.done() and output.exception() is None:
                finished = True
                await ws.send_str(json.dumps(output.result()))
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            for task in (pump, output):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
            connection.exec_streams.pop(stream_id, None)
            if not finished:
                await _to_agent(connection, {"type": "exec-cancel", "id": stream_id})
            await ws.close()
        return ws

    return handle
