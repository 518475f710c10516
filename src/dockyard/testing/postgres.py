"""A throwaway PostgreSQL cluster for tests: `initdb` + `pg_ctl` in a temp dir.

Uses Debian's `postgresql` package (installed by scripts/setup); the binaries are found
by glob in /usr/lib/postgresql/<version>/bin (newest version first). PostgreSQL refuses
to run as root, so as root the cluster belongs to a system user `dockyard-pg` (created
with `useradd` when missing); otherwise to the current user. The server listens on
127.0.0.1 only, on a free port below the kernel's ephemeral range, with its socket in
the cluster's own directory; authentication is `trust` (loopback, throwaway data).
`stop()` stops it (`pg_ctl stop -m immediate`) and removes the directory.

    with throwaway_postgres() as pg:
        store = open_store(pg.url)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_USER = "dockyard-pg"  # the OS user that owns the cluster when the tests run as root
START_TIMEOUT_S = 60  # pg_ctl start -w -t: generous, the machine is shared
PORTS = (20000, 32000)  # below the ephemeral range (32768-60999): no client socket there


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here (scripts/setup installs Debian's `postgresql`)."""


def pg_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        on_path = shutil.which("initdb")
        if on_path is None:
            raise PostgresUnavailable("initdb not found: run scripts/setup (apt postgresql)")
        return Path(on_path).parent
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def _free_port() -> int:
    for _ in range(200):
        port = random.randint(*PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def _owner() -> pwd.struct_passwd:
    """The OS user that runs the cluster (never root)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return pwd.getpwnam(PG_USER)


@dataclass
class PostgresCluster:
    """A running throwaway cluster; `url` is a SQLAlchemy URL to its `postgres` database."""

    root: Path
    port: int
    owner: pwd.struct_passwd
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S + 30) -> str:
        as_owner: dict[str, Any] = {}
        if os.geteuid() == 0:  # drop to the cluster's owner (PostgreSQL refuses root)
            as_owner = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        answer = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            **as_owner,
            cwd=self.root,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.root)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if answer.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {answer.stdout}{answer.stderr}\n{tail}")
        return str(answer.stdout)

    def start(self) -> None:
        # --no-locale: C collation, so text orders by bytes as on SQLite (ARN paging).
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=60"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.root / "postgres.log"),
            "-t",
            str(START_TIMEOUT_S),
            "-w",
            "start",
        )

    def create_database(self, name: str, template: str = "template0") -> str:
        """A fresh database (`name`: [a-z0-9_]), a copy of `template`, and its URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            engine.dispose()
        return self.database_url(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-t", "30", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresCluster]:
    """Start a cluster in a new temp dir; stop it and remove the dir on exit."""
    bin_dir = pg_bin_dir()
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PostgresCluster(root=root, port=_free_port(), owner=owner, bin_dir=bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
