"""`dockyard task exec`: run a command in a task's container, like `docker exec`.

    ExecuteCommand (signed ECS call: checks enableExecuteCommand, answers a session)
    -> websocket to session.streamUrl with the one-time token (api/exec.py)
    -> stdin up, stdout/stderr down, the command's exit code as ours

`-i` forwards stdin (else the command sees end of input at once); `-t` asks for a
pseudo-terminal, and when stdin is a terminal too it is put in raw mode (restored on
exit) and its size follows SIGWINCH. Without `-t`, output keeps stdout and stderr apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from dockyard.cli.client import ApiError, UnreachableError, client, settings
from dockyard.cli.resources import cluster_option

TOKEN_HEADER = "X-Dockyard-Exec-Token"  # api/exec.py
EXIT_NO_CODE = 255  # the command's exit code is unknown (it could not run, or was cut off)


def _terminal_size() -> tuple[int, int] | None:
    with contextlib.suppress(OSError):
        size = os.get_terminal_size(sys.stdin.fileno())
        return size.lines, size.columns
    return None


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    """Raw mode on stdin for the session (keys go to the remote shell), then restored."""
    if not enabled:
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _stdin_reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
    """Feed stdin into `queue` (b"" at its end): the loop's reader where the file can be
    polled (terminals, pipes), else a daemon thread (regular files)."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        data = os.read(fd, 65536)
        queue.put_nowait(data)
        if not data:
            loop.remove_reader(fd)

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError):

        def thread() -> None:
            while True:
                data = os.read(fd, 65536)
                loop.call_soon_threadsafe(queue.put_nowait, data)
                if not data:
                    return

        threading.Thread(target=thread, daemon=True).start()


async def _session(url: str, token: str, tty: bool, interactive: bool, raw: bool) -> int:
    import aiohttp

    loop = asyncio.get_running_loop()
    query: dict[str, str] = {"tty": "1" if tty else "0"}
    size = _terminal_size() if tty else None
    if size:
        query.update(rows=str(size[0]), cols=str(size[1]))
    stdout = sys.stdout.buffer
    stderr = sys.stderr.buffer
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, params=query, headers={TOKEN_HEADER: token}) as ws,
    ):
        inputs: asyncio.Queue[bytes] = asyncio.Queue()

        async def pump_stdin() -> None:
            if not interactive:
                await ws.send_str(json.dumps({"type": "eof"}))
                return
            _stdin_reader(loop, inputs)
            while data := await inputs.get():
                await ws.send_bytes(data)
            await ws.send_str(json.dumps({"type": "eof"}))

        def on_resize() -> None:
            current = _terminal_size()
            if current:
                resize = {"type": "resize", "rows": current[0], "cols": current[1]}
                loop.create_task(ws.send_str(json.dumps(resize)))  # noqa: RUF006

        if raw:
            loop.add_signal_handler(signal.SIGWINCH, on_resize)
        pump = asyncio.create_task(pump_stdin())
        result: dict[str, Any] = {}
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY and message.data:
                    out = stderr if message.data[0] == 2 else stdout
                    out.write(message.data[1:])
                    out.flush()
                elif message.type == aiohttp.WSMsgType.TEXT:
                    result = json.loads(message.data)
                    break
                elif message.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await pump
            if raw:
                loop.remove_signal_handler(signal.SIGWINCH)
            with contextlib.suppress(ValueError):
                loop.remove_reader(sys.stdin.fileno())
    if result.get("error"):
        sys.stderr.write(f"{result['error']}\r\n" if raw else f"{result['error']}\n")
    code = result.get("exitCode")
    return code if isinstance(code, int) else EXIT_NO_CODE


@click.command("exec")
@cluster_option()
@click.argument("task_ref", metavar="TASK")
@click.option("--container", help="Container name (needed when the task has several).")
@click.option("--interactive", "-i", is_flag=True, help="Keep stdin open and send it.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a pseudo-terminal.")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def task_exec(
    ctx: click.Context,
    cluster: str,
    task_ref: str,
    container: str | None,
    interactive: bool,
    tty: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND in a task's container (the task needs enableExecuteCommand).

    dockyard task exec --cluster C TASK --container web -it -- sh
    """
    params: dict[str, Any] = {
        "cluster": cluster,
        "task": task_ref,
        "command": shlex.join(command),
        "interactive": True,  # the only mode ECS supports; -i decides whether stdin flows
    }
    if container:
        params["container"] = container
    answer = client(ctx).execute_command(**params)
    session = answer["session"]
    raw = tty and interactive and sys.stdin.isatty()
    try:
        with _raw_terminal(raw):
            code = asyncio.run(
                _session(session["streamUrl"], session["tokenValue"], tty, interactive, raw)
            )
    except Exception as error:
        import aiohttp

        if isinstance(error, aiohttp.WSServerHandshakeError):
            raise ApiError(f"HTTP{error.status}", error.message) from None
        if isinstance(error, aiohttp.ClientError | OSError):
            raise UnreachableError(settings(ctx).endpoint, str(error)) from None
        raise
    ctx.exit(code)
