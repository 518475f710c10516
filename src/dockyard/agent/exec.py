"""The agent's end of `dockyard task exec`: run a command in a task's container.

    server (api/exec.py) --exec-start/input/resize/cancel--> ExecRelay --> Docker exec
    server <--exec-output/exec-exit-- ExecRelay <-- hijacked exec socket (reader thread)

One `ExecSession` per exec-start: `exec_create` + `exec_start(socket=True)` on the
Docker Engine API (with a TTY when asked), stdin written in order by one writer
coroutine (end of input half-closes the socket, as `docker exec -i` does), output read
by a thread of its own (the socket blocks; a long-idle shell must not hold a pool
worker) and demultiplexed when there is no TTY (8-byte frame headers: stream 1/2 and
length). The exit code comes from `exec_inspect` once the output ends. Without the
Docker runtime (`--fake-runtime`) exec answers an error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.agent.manager import TaskManager

log = logging.getLogger("dockyard.agent.exec")
Send = Callable[[dict[str, Any]], Awaitable[None]]
CHUNK = 32 * 1024
EXIT_WAIT_S = 10.0  # how long the exit code may lag behind the end of the output


class ExecError(Exception):
    """The command could not be started; the message goes back to the user."""


def demux(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Whole frames of a non-TTY exec stream, removed from `buffer` (pure)."""
    frames = []
    while len(buffer) >= 8:
        stream, size = buffer[0], struct.unpack(">I", bytes(buffer[4:8]))[0]
        if len(buffer) < 8 + size:
            break
        frames.append((stream if stream in (1, 2) else 1, bytes(buffer[8 : 8 + size])))
        del buffer[: 8 + size]
    return frames


class ExecSession:
    """One command running in a container, its socket and its three flows."""

    def __init__(
        self,
        api: Any,
        container_id: str,
        request: dict[str, Any],
        inputs: asyncio.Queue[bytes | None],
    ) -> None:
        self.api = api
        self.container_id = container_id
        self.command = [str(part) for part in request.get("command") or []]
        self.tty = bool(request.get("tty"))
        self.size = (request.get("rows"), request.get("cols"))
        self.exec_id = ""
        self.sock: socket.socket | None = None
        self.inputs = inputs  # filled from exec-start on, while the command starts

    async def open(self) -> None:
        import docker.errors

        def create_and_start() -> tuple[str, Any]:
            created = self.api.exec_create(
                self.container_id, self.command, stdin=True, tty=self.tty
            )
            return created["Id"], self.api.exec_start(created["Id"], tty=self.tty, socket=True)

        try:
            self.exec_id, raw = await asyncio.to_thread(create_and_start)
        except docker.errors.APIError as error:
            raise ExecError(str(error.explanation or error)) from None
        sock = getattr(raw, "_sock", raw)
        assert isinstance(sock, socket.socket)
        sock.settimeout(None)  # an idle shell is not a timeout
        self.sock = sock
        rows, cols = self.size
        if self.tty and isinstance(rows, int) and isinstance(cols, int):
            await self.resize(rows, cols)

    async def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(Exception):  # the command may have exited meanwhile
            await asyncio.to_thread(self.api.exec_resize, self.exec_id, height=rows, width=cols)

    async def write_inputs(self) -> None:
        """Stdin in order; None half-closes the socket (end of input)."""
        while (data := await self.inputs.get()) is not None:
            if self.sock is None:
                return
            try:
                await asyncio.to_thread(self.sock.sendall, data)
            except OSError:
                return
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    async def read_outputs(self, send: Send, request_id: str) -> None:
        """Output until the command closes it: read on a thread, sent from the loop."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        sock, tty = self.sock, self.tty
        assert sock is not None

        def reader() -> None:
            pending = bytearray()
            try:
                while data := sock.recv(CHUNK):
                    if tty:
                        loop.call_soon_threadsafe(chunks.put_nowait, (1, data))
                        continue
                    pending += data
                    for frame in demux(pending):
                        loop.call_soon_threadsafe(chunks.put_nowait, frame)
            except OSError:
                pass
            finally:
                with contextlib.suppress(RuntimeError):  # the loop may be closing
                    loop.call_soon_threadsafe(chunks.put_nowait, None)

        threading.Thread(target=reader, name=f"exec-{request_id[:12]}", daemon=True).start()
        while (chunk := await chunks.get()) is not None:
            stream, data = chunk
            message = {"type": "exec-output", "id": request_id, "stream": stream}
            await send({**message, "data": base64.b64encode(data).decode()})

    async def exit_code(self) -> int | None:
        """The command's exit code (it may lag a little behind the end of the output)."""
        deadline = asyncio.get_running_loop().time() + EXIT_WAIT_S
        while True:
            state = await asyncio.to_thread(self.api.exec_inspect, self.exec_id)
            if not state.get("Running") or asyncio.get_running_loop().time() > deadline:
                code = state.get("ExitCode")
                return int(code) if isinstance(code, int) else None
            await asyncio.sleep(0.05)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread's recv
            with contextlib.suppress(OSError):
                self.sock.close()


class ExecRelay:
    """Exec sessions of this agent, by the id the server gave (wire/agent.py exec-*)."""

    def __init__(self, manager: TaskManager, send: Send) -> None:
        self.manager = manager
        self.send = send
        self.sessions: dict[str, ExecSession] = {}
        self.inputs: dict[str, asyncio.Queue[bytes | None]] = {}  # stdin, by request id
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def handle(self, message: dict[str, Any]) -> None:
        """One exec-* message from the server."""
        request_id = str(message.get("id"))
        kind = message.get("type")
        if kind == "exec-start" and request_id not in self.tasks:
            self.inputs[request_id] = asyncio.Queue()  # input may come before the session
            task = asyncio.create_task(self._run(request_id, message))
            self.tasks[request_id] = task
            task.add_done_callback(lambda _t: self._forget(request_id))
            return
        session, inputs = self.sessions.get(request_id), self.inputs.get(request_id)
        if kind == "exec-cancel":
            self.cancel(request_id)
        elif kind == "exec-input" and inputs is not None:
            if message.get("data"):
                with contextlib.suppress(ValueError):
                    inputs.put_nowait(base64.b64decode(str(message["data"])))
            if message.get("eof"):
                inputs.put_nowait(None)
        elif kind == "exec-resize" and session is not None:
            rows, cols = message.get("rows"), message.get("cols")
            if isinstance(rows, int) and isinstance(cols, int):
                asyncio.create_task(session.resize(rows, cols))  # noqa: RUF006 (best effort)

    def _forget(self, request_id: str) -> None:
        self.tasks.pop(request_id, None)
        self.inputs.pop(request_id, None)
        session = self.sessions.pop(request_id, None)
        if session is not None:
            session.close()

    def cancel(self, request_id: str) -> None:
        task = self.tasks.get(request_id)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for request_id in list(self.tasks):
            self.cancel(request_id)

    def _docker_api(self) -> Any:
        client = getattr(self.manager.ctx.runtime, "client", None)
        api = getattr(client, "api", None)
        if api is None:
            raise ExecError("exec needs the Docker runtime; this agent runs a fake runtime")
        return api

    async def _run(self, request_id: str, request: dict[str, Any]) -> None:
        result: dict[str, Any] = {"type": "exec-exit", "id": request_id, "exitCode": None}
        writer: asyncio.Task[None] | None = None
        try:
            container_id = self.manager.container_id(
                str(request.get("taskArn")), request.get("container")
            )
            if container_id is None:
                raise ExecError("the container is not running on this host")
            inputs = self.inputs[request_id]
            session = ExecSession(self._docker_api(), container_id, request, inputs)
            self.sessions[request_id] = session
            await session.open()
            writer = asyncio.create_task(session.write_inputs())
            await session.read_outputs(self.send, request_id)
            result["exitCode"] = await session.exit_code()
        except ExecError as error:
            result["error"] = str(error)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported to the user, not fatal to the agent
            log.exception("exec %s failed", request_id)
            result["error"] = f"exec failed: {error}"
        finally:
            if writer is not None:
                writer.cancel()
        with contextlib.suppress(Exception):
            await self.send(result)
