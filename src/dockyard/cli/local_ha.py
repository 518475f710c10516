"""`dockyard up --ha` and its half of `dockyard down`: a replicated control plane on loopback.

    up --ha (local.py calls start_control_plane, then makes the cluster and the agents)
      |- PostgreSQL in DATA_DIR/postgres (store/pg_local.py): initdb once (C collation,
      |  owner `dockyard-pg` when run as root), pg_ctl start on 127.0.0.1 at the port kept
      |  in postgres/port; database `dockyard` created when missing
      |- server1..3 on --port, --port+1, --port+2: one --store-url, --name serverN, their
      |  own DATA_DIR/serverN, one --lb-dir DATA_DIR/haproxy (whichever leads runs HAProxy;
      |  the next leader adopts it); server1 first (it migrates the database), then the others
      |- agents (local.py) each given the three endpoints
      '- print_status: `dockyard status` (which server leads, since when)
    down (local.py stops the agents, then the servers) -> stop_data_plane: HAProxy (servers
      on PostgreSQL leave it running for the next leader), then PostgreSQL (pg_ctl stop -m fast)

The data (PostgreSQL's included) stays for the next `up --ha` unless `down --purge`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import click

from dockyard.cli.client import CliError, settings
from dockyard.cli.output import console
from dockyard.cli.status import fetch, servers_table
from dockyard.store.pg_local import LocalPostgres, PostgresError, PostgresUnavailable

SERVERS = 3
DATABASE = "dockyard"
START_TIMEOUT_S = 90  # per phase (PostgreSQL, first server, the others, a leader)

Starter = Callable[[str, list[str], Path], int]  # (name, dockyard args, data dir) -> pid


def postgres_of(data_dir: Path) -> LocalPostgres:
    return LocalPostgres.create(data_dir / "postgres")


def lb_dir_of(data_dir: Path) -> Path:
    return data_dir / "haproxy"


def start_postgres(data_dir: Path) -> str:
    """PostgreSQL initialised and running; the URL of database `dockyard`."""
    try:
        pg = postgres_of(data_dir)
        if not pg.initialized:
            click.echo(f"Initialising PostgreSQL in {pg.data_dir}")
            pg.init()
        if pg.running():
            click.echo(f"PostgreSQL already runs on 127.0.0.1:{pg.port}")
        else:
            pg.start()
            click.echo(f"PostgreSQL on 127.0.0.1:{pg.port} (log {pg.log_path})")
        return pg.create_database(DATABASE, if_missing=True)
    except (PostgresUnavailable, PostgresError) as error:
        raise click.ClickException(str(error)) from None


def start_control_plane(
    data_dir: Path, port: int, start: Starter, answers: Callable[[str], bool]
) -> list[str]:
    """PostgreSQL and three servers answering with one of them leading; their endpoints."""
    url = start_postgres(data_dir)
    endpoints = {f"server{i + 1}": f"http://127.0.0.1:{port + i}" for i in range(SERVERS)}
    names = list(endpoints)
    pids: dict[str, int] = {}
    for wave in (names[:1], names[1:]):  # the first server migrates the database
        for name in wave:
            if answers(endpoints[name]):
                if not _started_here(data_dir, name):
                    raise click.ClickException(
                        f"{endpoints[name]} answers but is not {name} of {data_dir}: stop it"
                        " (`dockyard down`) or choose another --port"
                    )
                click.echo(f"{name} already answers at {endpoints[name]}")
                continue
            args = [
                "server", "--port", endpoints[name].rsplit(":", 1)[1], "--name", name,
                "--data-dir", str(data_dir / name), "--store-url", url,
                "--lb-dir", str(lb_dir_of(data_dir)),
            ]  # fmt: skip
            pids[name] = start(name, args, data_dir)

        def wave_up(wave: list[str] = wave) -> bool:
            return all(answers(endpoints[name]) for name in wave)

        _wait(wave_up, f"{', '.join(wave)} to answer", data_dir, pids)
    for name, pid in pids.items():
        click.echo(f"{name} at {endpoints[name]} (pid {pid}, log {data_dir / name}.log)")
    urls = list(endpoints.values())
    _wait(lambda: leader(urls) is not None, "a leader", data_dir, pids)
    return urls


def _started_here(data_dir: Path, name: str) -> bool:
    try:
        return alive(int((data_dir / "pids" / f"{name}.pid").read_text()))
    except (OSError, ValueError):
        return False


def leader(endpoints: list[str], region: str = "us-east-1") -> str | None:
    """The name of the leading server, asking each endpoint until one answers."""
    for endpoint in endpoints:
        with contextlib.suppress(CliError):
            data = fetch(endpoint, region)
            return next((str(s["name"]) for s in data["servers"] if s["leader"]), None)
    return None


def print_status(ctx: click.Context, endpoint: str) -> None:
    """What `dockyard status` prints."""
    console().print(servers_table(fetch(endpoint, settings(ctx).region)))


def _wait(ready: Callable[[], bool], what: str, data_dir: Path, pids: dict[str, int]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        dead = [name for name, pid in pids.items() if not alive(pid)]
        if dead or time.monotonic() > deadline:
            name = dead[0] if dead else next(iter(pids), "server1")
            log = data_dir / f"{name}.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            reason = f"{name} exited" if dead else f"timed out waiting for {what}"
            raise click.ClickException(f"{reason}; {log}:\n{tail}")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie child, one that exited unreaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def stop_data_plane(data_dir: Path) -> None:
    """After the servers: HAProxy they left running, then PostgreSQL (when `up --ha` made
    them; nothing to do after a single-server `up`)."""
    if stop_haproxy(lb_dir_of(data_dir)):
        click.echo("Stopped HAProxy.")
    if (data_dir / "postgres" / "data" / "PG_VERSION").exists():
        pg = postgres_of(data_dir)
        if pg.running():
            try:
                pg.stop("fast")
            except (PostgresUnavailable, PostgresError) as error:
                raise click.ClickException(str(error)) from None
            click.echo("Stopped PostgreSQL.")


def stop_haproxy(run_dir: Path, grace_s: float = 10.0) -> bool:
    """End the HAProxy master of `run_dir` (its pid file; only a live haproxy whose command
    line names that dir): SIGTERM, SIGKILL after `grace_s`. Whether one was running."""
    try:
        pid = int((run_dir / "haproxy.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return False
    if "haproxy" not in cmdline or str(run_dir.resolve()) not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    return True
