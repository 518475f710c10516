"""Async clients for HAProxy's two sockets: the worker's admin socket and the master CLI.

One command line per connection (HAProxy closes a non-interactive connection
after answering; several commands in one line are separated by `;` and run in
order, which is how a new server is added and put DOWN before it can take a
request). Parsing of `show stat` lives here too. Errors are `RuntimeApiError`:
the controller's loop is level-triggered, so it logs them and tries again.
Neighbours: `haproxy.py` (starts the process that owns the sockets),
`controller.py` (applies plans through `RuntimeApi`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

ADDED = "New server registered."
DELETED = "Server deleted."


class RuntimeApiError(Exception):
    """HAProxy refused a command, or its socket did not answer."""


@dataclass(frozen=True)
class ServerStat:
    """One server row of `show stat`."""

    backend: str
    server: str
    status: str  # UP, "UP 1/2", DOWN, "DOWN 1/3", MAINT, DRAIN, NOLB, "no check"
    check_status: str  # L7OK, L7STS, L4CON, L4TOUT, L7TOUT, INI, ... (without "* ")
    check_code: str
    check_failures: int  # chkfail: failed checks since the server was created
    current_sessions: int
    address: str  # "ip:port"
    weight: int
    queued: int = 0  # qcur: requests waiting for a connection slot on this server
    changed_s: int = 0  # lastchg: seconds since the server last went UP or DOWN

    @property
    def up(self) -> bool:
        return self.status.startswith(("UP", "DRAIN", "NOLB", "no check"))


async def _exchange(path: Path, line: str, limit_s: float, *, half_close: bool) -> str:
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_unix_connection(str(path))
            try:
                writer.write(line.encode() + b"\n")
                await writer.drain()
                if half_close:
                    writer.write_eof()
                return (await reader.read()).decode(errors="replace")
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        raise RuntimeApiError(f"{path}: {error or type(error).__name__}") from error


class RuntimeApi:
    """The admin-level stats socket of the current worker."""

    def __init__(self, socket: Path, timeout: float = 5.0) -> None:
        self.socket = socket
        self.timeout = timeout

    async def execute(self, *commands: str) -> str:
        return await _exchange(self.socket, "; ".join(commands), self.timeout, half_close=False)

    async def add_server(
        self, backend: str, server: str, address: str, options: str, *, up: bool, cookie: bool
    ) -> None:
        """Add, enable checks and traffic; DOWN until `rise` checks pass unless `up`."""
        ref = f"{backend}/{server}"
        commands = [f"add server {ref} {address} {options}", f"enable health {ref}"]
        commands.append(f"enable server {ref}")
        if not up:
            commands.append(f"set server {ref} health down")
        if cookie:  # a dynamic server gets its cookie only when the backend's is re-enabled
            commands.append(f"enable dynamic-cookie backend {backend}")
        answer = await self.execute(*commands)
        if ADDED not in answer:
            raise RuntimeApiError(f"add server {ref}: {answer.strip()}")

    async def set_state(self, backend: str, server: str, state: str) -> None:
        """state: ready, drain or maint."""
        await self._quiet(f"set server {backend}/{server} state {state}")

    async def set_health_down(self, backend: str, server: str) -> None:
        await self._quiet(f"set server {backend}/{server} health down")

    async def set_address(self, backend: str, server: str, address: str, port: int) -> None:
        answer = await self.execute(f"set server {backend}/{server} addr {address} port {port}")
        if "changed" not in answer and "no need to change" not in answer:
            raise RuntimeApiError(f"set addr {backend}/{server}: {answer.strip()}")

    async def remove_server(self, backend: str, server: str) -> None:
        """Maintenance, cut what is left, delete: `del server` wants MAINT and no connection."""
        ref = f"{backend}/{server}"
        answer = await self.execute(
            f"set server {ref} state maint", f"shutdown sessions server {ref}", f"del server {ref}"
        )
        if DELETED not in answer:
            raise RuntimeApiError(f"del server {ref}: {answer.strip()}")

    async def show_stat(self) -> Stats:
        """Servers and backends (type mask 2|4: a backend without servers still shows)."""
        return parse_stat(await self.execute("show stat -1 6 -1"))

    async def worker_pid(self) -> int:
        match = re.search(r"^Pid: (\d+)", await self.execute("show info"), re.MULTILINE)
        if match is None:
            raise RuntimeApiError("show info: no Pid")
        return int(match.group(1))

    async def show_servers_state(self) -> str:
        return await self.execute("show servers state")

    async def _quiet(self, command: str) -> None:
        """Commands that answer nothing on success."""
        answer = (await self.execute(command)).strip()
        if answer:
            raise RuntimeApiError(f"{command}: {answer}")


@dataclass(frozen=True)
class Processes:
    reloads: int  # reloads since the master started
    failed: int  # failed reloads since the last good one
    workers: tuple[tuple[int, int], ...]  # (pid, reloads survived): 0 = the current worker

    @property
    def current(self) -> list[int]:
        return [pid for pid, survived in self.workers if survived == 0]


class MasterCli:
    """The master socket (`-S`): process list and hitless reload."""

    def __init__(self, socket: Path, timeout: float = 5.0) -> None:
        self.socket = socket
        self.timeout = timeout

    async def execute(self, command: str) -> str:
        return await _exchange(self.socket, command, self.timeout, half_close=True)

    async def processes(self) -> Processes:
        return parse_proc(await self.execute("show proc"))

    async def reload(self) -> None:
        await self.execute("reload")


@dataclass(frozen=True)
class Stats:
    servers: tuple[ServerStat, ...]
    backends: frozenset[str]

    def by_ref(self) -> dict[tuple[str, str], ServerStat]:
        return {(s.backend, s.server): s for s in self.servers}


def parse_stat(text: str) -> Stats:
    lines = text.lstrip("# ").splitlines()
    rows = []
    backends = set()
    for row in csv.DictReader(io.StringIO("\n".join(line for line in lines if line))):
        if row.get("type") == "1":
            backends.add(row["pxname"])
        if row.get("type") != "2":
            continue
        rows.append(
            ServerStat(
                backend=row["pxname"],
                server=row["svname"],
                status=row["status"],
                check_status=row.get("check_status", "").removeprefix("* "),
                check_code=row.get("check_code", ""),
                check_failures=int(row.get("chkfail") or 0),
                current_sessions=int(row.get("scur") or 0),
                address=row.get("addr", ""),
                weight=int(row.get("weight") or 0),
                queued=int(row.get("qcur") or 0),
                changed_s=int(row.get("lastchg") or 0),
            )
        )
    return Stats(tuple(rows), frozenset(backends))


def parse_proc(text: str) -> Processes:
    """`show proc`: the master line carries the reload and failure counts; workers follow."""
    reloads = failed = 0
    workers: list[tuple[int, int]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        if fields[1] == "master":
            reloads = int(fields[2])
            match = re.search(r"failed: (\d+)", line)
            failed = int(match.group(1)) if match else 0
        elif fields[1] == "worker":
            workers.append((int(fields[0]), int(fields[2])))
    return Processes(reloads, failed, tuple(workers))
