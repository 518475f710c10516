"""Shared helpers for benchmarks: server subprocesses on free loopback ports, cleaned up always.

Every benchmark under bench/ that needs a server process should go through this
module so that:

* servers bind loopback only (127.0.0.0/8) - `free_port()` and `ServerProcess`
  refuse any other address;
* each server runs in its own session / process group, so Ctrl-C in the
  terminal reaches only the benchmark, which then stops its servers in order;
* every server is stopped on normal exit, on exceptions, on Ctrl-C and on
  SIGTERM (`ServerSet` plus `install_signal_handlers()`), and an `atexit` hook
  is the last resort.

Typical use::

    from _servers import ServerSet, dockyard_server, moto_server, install_signal_handlers

    install_signal_handlers()
    with ServerSet() as servers:
        dy = servers.start(dockyard_server())
        moto = servers.start(moto_server())
        servers.wait_all_ready()
        ...  # dy.endpoint, moto.endpoint

The module is also a tiny server itself: `python bench/_servers.py canned
--port P --responses FILE` serves fixed AWS JSON 1.1 answers (see `canned_app`),
the "client floor" that shows what an SDK can do against a server doing nothing.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
JSON_11 = "application/x-amz-json-1.1"

_LIVE: set[ServerProcess] = set()


def check_loopback(host: str) -> None:
    """Benchmarks only ever send traffic to this machine's loopback range."""
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"benchmarks target loopback (127.0.0.0/8) only; got {host!r}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (the usual small race applies)."""
    check_loopback(host)
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_get_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers with any status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status) < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` from /proc (None where there is no /proc or no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; comm may hold spaces
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU of a process, its reaped children (cutime, cstime) and its live children: e.g. a
    PostgreSQL postmaster and its backends (0.0 when there is no such process)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) or 0.0 for child in children)


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in a PostgreSQL data dir's postmaster.pid (None if not running)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    return None


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(eq=False)
class ServerProcess:
    """One server subprocess on a loopback port.

    `argv` may contain `{host}` and `{port}`, filled in at start. Readiness is a
    GET of `health_path` answering < 500, or a TCP connect when it is None.
    """

    name: str
    argv: Sequence[str]
    host: str = "127.0.0.1"
    port: int = 0
    health_path: str | None = "/health"
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    log_dir: Path | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    # CPU to count with the server's own, e.g. its PostgreSQL's (tree_cpu_seconds).
    extra_cpu: Callable[[], float] | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_file: Any = None

    def __post_init__(self) -> None:
        check_loopback(self.host)
        if not self.port:
            self.port = free_port(self.host)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def cpu_seconds(self) -> float | None:
        """User+system CPU time of the server process (all its threads) so far; Linux only.

        Unlike wall-clock rates, CPU per request barely moves with other load on the
        machine. Resolution is one clock tick (usually 10 ms): measure many requests.
        """
        own = process_cpu_seconds(self.proc.pid) if self.proc else None
        if own is None or self.extra_cpu is None:
            return own
        return own + self.extra_cpu()

    def start(self) -> ServerProcess:
        argv = [a.format(host=self.host, port=self.port) for a in self.argv]
        log_dir = self.log_dir
        if log_dir is None:  # a private log dir, removed at stop()
            log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-log-"))
            self.cleanup.append(lambda: shutil.rmtree(log_dir, ignore_errors=True))
        self.log_path = log_dir / f"{self.name}-{self.port}.log"
        self._log_file = self.log_path.open("ab")
        env = dict(os.environ)
        env.update(self.env or {})
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.cwd,
            # Own process group: terminal Ctrl-C reaches only the benchmark, which then
            # stops this server itself; stop() signals exactly this group.
            start_new_session=True,
        )
        _LIVE.add(self)
        return self

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def is_ready(self) -> bool:
        if self.health_path is None:
            return tcp_open(self.host, self.port)
        return http_get_ok(self.endpoint + self.health_path)

    def wait_ready(self, timeout: float = 30.0) -> ServerProcess:
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited early (code {self.proc.returncode}):\n{self.log_tail()}"
                )
            if self.is_ready():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # the group this process leads (start_new_session)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL after `timeout`; idempotent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.proc.wait(timeout=timeout)
            else:
                self._signal_group(signal.SIGKILL)  # stray children of an exited leader
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _LIVE.discard(self)
        while self.cleanup:
            with contextlib.suppress(Exception):
                self.cleanup.pop()()


class ServerSet:
    """Context manager owning several servers; stops all of them (reverse order) on exit."""

    def __init__(self) -> None:
        self.servers: list[ServerProcess] = []

    def start(self, server: ServerProcess) -> ServerProcess:
        self.servers.append(server)
        return server.start()

    def wait_all_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for server in self.servers:
            server.wait_ready(max(0.5, deadline - time.monotonic()))

    def stop_all(self) -> None:
        # Ignore a second Ctrl-C while stopping, so cleanup always completes.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for server in reversed(self.servers):
                with contextlib.suppress(Exception):
                    server.stop()
        finally:
            signal.signal(signal.SIGINT, previous)

    def __enter__(self) -> ServerSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(timeout=2.0)


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP become SystemExit, so `with ServerSet()` and finally blocks run."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


# --- the servers benchmarks use -------------------------------------------------------------


def _temp_dir(prefix: str) -> tuple[Path, Callable[[], None]]:
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    return Path(tmp.name), tmp.cleanup


def dockyard_server(
    host: str = "127.0.0.1",
    data_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    python_prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """`dockyard server` on a free port with a temporary data dir (removed at stop).

    `python_prefix` wraps the interpreter, e.g. `["-m", "cProfile", "-o", "x.prof"]`.
    """
    cleanup: list[Callable[[], None]] = []
    if data_dir is None:
        base, remove = _temp_dir("bench-dockyard-")
        cleanup.append(remove)
        data_dir = base / "data"
    argv = [sys.executable, *python_prefix, "-m", "dockyard", "server"]
    argv += ["--host", "{host}", "--port", "{port}", "--data-dir", str(data_dir)]
    argv += ["--log-level", "warning", *extra_args]
    return ServerProcess(
        "dockyard",
        argv,
        host=host,
        health_path="/health",
        env=env,
        log_dir=data_dir.parent,
        cleanup=cleanup,
    )


def moto_server(host: str = "127.0.0.1") -> ServerProcess:
    """moto's standalone server (Flask/Werkzeug, threaded) on a free port."""
    exe = BIN / "moto_server"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    return ServerProcess(
        "moto", [*argv, "-H", "{host}", "-p", "{port}"], host=host, health_path="/moto-api/"
    )


def canned_server(responses: Mapping[str, Any], host: str = "127.0.0.1") -> ServerProcess:
    """The "client floor": answers each `X-Amz-Target` with a fixed body (see `canned_app`).

    `responses` maps a target (`<prefix>.<Action>`, or just `<Action>` for ECS) to
    the JSON document (or pre-encoded bytes/str) to return.
    """
    base, remove = _temp_dir("bench-canned-")
    table = {}
    for target, doc in responses.items():
        full = target if "." in target else f"{ECS_TARGET_PREFIX}.{target}"
        if isinstance(doc, bytes):
            table[full] = doc.decode()
        elif isinstance(doc, str):
            table[full] = doc
        else:
            table[full] = json.dumps(doc, separators=(",", ":"))
    path = base / "responses.json"
    path.write_text(json.dumps(table))
    argv = [sys.executable, str(Path(__file__).resolve()), "canned"]
    argv += ["--host", "{host}", "--port", "{port}", "--responses", str(path)]
    return ServerProcess(
        "canned", argv, host=host, health_path="/health", log_dir=base, cleanup=[remove]
    )


# --- the canned server itself (runs in its own process) -------------------------------------


def canned_app(responses: Mapping[str, str]) -> Any:
    """aiohttp app: POST / answers the canned body for its X-Amz-Target; nothing else runs."""
    from aiohttp import web

    bodies = {target: body.encode() for target, body in responses.items()}
    unknown = json.dumps(
        {"__type": "UnknownOperationException", "message": "no canned response"}
    ).encode()
    headers = {"x-amzn-RequestId": "00000000-0000-4000-8000-000000000000"}

    async def handle(request: web.Request) -> web.Response:
        await request.read()  # consume the body, as a real server does
        body = bodies.get(request.headers.get("X-Amz-Target", ""))
        if body is None:
            return web.Response(status=400, body=unknown, content_type=JSON_11, headers=headers)
        return web.Response(body=body, content_type=JSON_11, headers=headers)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/", handle)
    app.router.add_get("/health", health)
    return app


def _serve_canned(host: str, port: int, responses_file: Path) -> None:
    import asyncio

    from aiohttp import web

    check_loopback(host)
    app = canned_app(json.loads(responses_file.read_text()))

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        # aiohttp sets TCP_NODELAY on accepted connections.
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:  # same event loop as `dockyard server`, so the floor is comparable
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    canned = sub.add_parser("canned", help="serve fixed AWS JSON 1.1 responses")
    canned.add_argument("--host", default="127.0.0.1")
    canned.add_argument("--port", type=int, required=True)
    canned.add_argument("--responses", type=Path, required=True, help="JSON {target: body}")
    args = parser.parse_args(argv)
    if args.command == "canned":
        _serve_canned(args.host, args.port, args.responses)


if __name__ == "__main__":
    _main()
