"""The HAProxy process: validate, start (master-worker), hitless reload, stop.

    start   haproxy -c -f cfg   (refuse a config HAProxy would refuse)
            haproxy -W -S master.sock -f cfg -p pid   (own session: a Ctrl-C on
            the server does not cut traffic; `stop()` ends it)
    reload  show servers state -> server-state file (states and health survive,
            including servers added at runtime), write cfg atomically,
            `reload` on the master socket, wait for the new worker
    adopt   a master left running by a previous server (kill -9) is taken over
            instead of fighting it for the ports; the next step reloads it

Neighbours: `runtime_api.py` (the sockets), `controller.py` (decides when).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from dockyard.files import write_atomic
from dockyard.lb.runtime_api import MasterCli, Processes, RuntimeApi, RuntimeApiError
from dockyard.lb.settings import LbSettings

log = logging.getLogger("dockyard.lb.haproxy")
EMPTY_STATE = "1\n"


class HAProxyError(Exception):
    """HAProxy refused a configuration or did not come up."""


class HAProxyKilled(HAProxyError):
    """HAProxy was killed by a signal while coming up: not the config's fault, retry at once."""


class HAProxyProcess:
    def __init__(self, settings: LbSettings) -> None:
        self.settings = settings
        self.master = MasterCli(settings.master_socket)
        self.api = RuntimeApi(settings.admin_socket)
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def prepare(self) -> str:
        """Create the directories; return the cookie secret (kept across restarts)."""
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.settings.state_path.exists():
            self.settings.state_path.write_text(EMPTY_STATE)
        key = self.settings.cookie_key_path
        if not key.exists():
            write_atomic(key, secrets.token_hex(16), 0o600)  # the cookie secret
        return key.read_text().strip()

    async def validate(self, config: str) -> None:
        candidate = self.settings.run_dir / "haproxy.check.cfg"
        await asyncio.to_thread(candidate.write_text, config)
        result = await asyncio.to_thread(
            subprocess.run,
            [self.settings.haproxy, "-c", "-q", "-f", str(candidate)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise HAProxyError(f"haproxy refused the config: {result.stderr.strip()}")

    async def alive(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            return False
        try:
            await self.master.processes()
        except RuntimeApiError:
            return False
        return True

    async def adopt(self) -> bool:
        """Take over a master that a previous server left running."""
        if not self.settings.master_socket.exists() or not await self.alive():
            return False
        with contextlib.suppress(OSError, ValueError):
            self.pid = int(self.settings.pid_path.read_text().strip())
        log.info("adopted running HAProxy master (pid %s)", self.pid)
        return True

    async def start(self, config: str) -> None:
        await self.validate(config)
        await asyncio.to_thread(write_atomic, self.settings.config_path, config)
        for stale in (self.settings.master_socket, self.settings.admin_socket):
            stale.unlink(missing_ok=True)
        command = [
            self.settings.haproxy,
            "-W",
            "-S",
            f"{self.settings.master_socket},mode,600",
            "-f",
            str(self.settings.config_path.resolve()),
            "-p",
            str(self.settings.pid_path.resolve()),
        ]
        # Spawned inline: a cancellation between spawning and recording the pid would
        # leave a master nobody stops (Popen returns in about a millisecond).
        self._proc = _spawn(command, self.settings.log_path)
        self.pid = self._proc.pid
        try:
            await self._wait_worker(lambda p: bool(p.current))
        except HAProxyError:
            await self.stop()
            raise
        log.info("HAProxy started (master pid %s)", self.pid)

    async def reload(self, config: str) -> float:
        """Hitless reload with server states carried over; returns the seconds it took."""
        started = time.monotonic()
        await self.validate(config)
        await self.save_state()
        await asyncio.to_thread(write_atomic, self.settings.config_path, config)
        before = await self.master.processes()
        await self.master.reload()
        after = await self._wait_worker(lambda p: p.reloads > before.reloads)
        if after.failed:
            raise HAProxyError(f"reload failed; the old worker still serves. {self.log_tail()}")
        return time.monotonic() - started

    async def save_state(self) -> None:
        with contextlib.suppress(RuntimeApiError):
            state = await self.api.show_servers_state()
            if state.startswith("1"):
                await asyncio.to_thread(write_atomic, self.settings.state_path, state)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Save server states, then end the master and its workers (also one we lost track of)."""
        if self.pid is None and not await self.adopt():
            return
        if self.pid is None:
            return
        await self.save_state()
        pid, self.pid = self.pid, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        await asyncio.to_thread(_end, pid, self._proc, grace_s)
        self._proc = None
        log.info("HAProxy stopped")

    async def _wait_worker(self, ready: Callable[[Processes], bool]) -> Processes:
        """Poll the master until `ready`, and the admin socket until a current worker answers."""
        deadline = time.monotonic() + self.settings.start_timeout_s
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                if code < 0:
                    raise HAProxyKilled(f"haproxy was killed by signal {-code}")
                raise HAProxyError(f"haproxy exited with {code}: {self.log_tail()}")
            with contextlib.suppress(RuntimeApiError):
                procs = await self.master.processes()
                if ready(procs) and (procs.failed or await self.api.worker_pid() in procs.current):
                    return procs
            if time.monotonic() > deadline:
                raise HAProxyError(f"no HAProxy worker answered: {self.log_tail()}")
            await asyncio.sleep(0.01)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.settings.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _end(pid: int, proc: subprocess.Popen[bytes] | None, grace_s: float) -> None:
    """Wait for the master to go after SIGTERM; SIGKILL it when it lingers."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _running(pid, proc):
        time.sleep(0.02)
    if _running(pid, proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(grace_s)


def _running(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
