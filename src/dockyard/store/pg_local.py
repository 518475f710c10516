"""A PostgreSQL cluster on this machine: `initdb` + `pg_ctl` in a directory of our own.

`dockyard up --ha` keeps one in `--data-dir/postgres` (initialised once, started and stopped
with `up`/`down`); the tests' throwaway clusters (dockyard.testing.postgres) are the same
thing in a temp dir, removed after. Uses Debian's `postgresql` package: the binaries are
found by glob in /usr/lib/postgresql/<version>/bin (newest version first). PostgreSQL
refuses to run as root, so as root the cluster belongs to a system user `dockyard-pg`
(created with `useradd` when missing); otherwise to the current user. It listens on
127.0.0.1 only, with its socket in the cluster's own directory; authentication is `trust`
(loopback only). `initdb --no-locale`: every database collates by bytes (C), as the store
needs (store/README.md).

    pg = LocalPostgres.create(Path(".dockyard/postgres"))
    pg.init(); pg.start(); url = pg.create_database("dockyard", if_missing=True)
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_USER = "dockyard-pg"  # the OS user that owns the cluster when we run as root
START_TIMEOUT_S = 60  # pg_ctl start -w -t: generous, the machine may be shared
PORTS = (20000, 32000)  # below the ephemeral range (32768-60999): no client socket there


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here (scripts/setup installs Debian's `postgresql`)."""


class PostgresError(RuntimeError):
    """initdb or pg_ctl failed; the message holds its output and the log's tail."""


def pg_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        on_path = shutil.which("initdb")
        if on_path is None:
            raise PostgresUnavailable(
                "initdb not found: install Debian's postgresql package (scripts/setup)"
            )
        return Path(on_path).parent
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def free_port() -> int:
    """A free loopback port in PORTS (bounded attempts)."""
    for _ in range(200):
        port = random.randint(*PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def cluster_owner() -> pwd.struct_passwd:
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


def unreachable_parent(path: Path, owner: pwd.struct_passwd) -> Path | None:
    """The first directory above `path` that `owner` may not search (PostgreSQL, running
    as `owner`, must reach its data dir), or None."""
    if owner.pw_uid == 0 or owner.pw_uid == os.geteuid():
        return None
    for parent in reversed(path.resolve().parents):
        try:
            info = parent.stat()
        except OSError:
            return None  # not made yet: mkdir makes it searchable (umask permitting)
        if info.st_uid == owner.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid == owner.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return parent
    return None


@dataclass
class LocalPostgres:
    """A cluster in `root` (data in root/data, log root/postgres.log) on 127.0.0.1:`port`."""

    root: Path
    port: int
    owner: pwd.struct_passwd
    bin_dir: Path

    @classmethod
    def create(cls, root: Path, port: int | None = None) -> LocalPostgres:
        """`root` made (owned by the cluster's user); the port recorded in root/port so a
        later `up` finds the same cluster on the same port."""
        bin_dir, owner = pg_bin_dir(), cluster_owner()
        root.mkdir(parents=True, exist_ok=True)
        blocked = unreachable_parent(root, owner)
        if blocked is not None:
            raise PostgresError(
                f"{blocked} is not searchable by {owner.pw_name}, the user PostgreSQL runs as;"
                f" choose a data dir it can reach or `chmod o+x {blocked}`"
            )
        os.chown(root, owner.pw_uid, owner.pw_gid)
        port_file = root / "port"
        if port is None:
            try:
                port = int(port_file.read_text())
            except (OSError, ValueError):
                port = free_port()
        port_file.write_text(f"{port}\n")
        return cls(root=root, port=port, owner=owner, bin_dir=bin_dir)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S + 30, check: bool = True) -> int:
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
        if check and answer.returncode != 0:
            log = self.log_path
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresError(f"{args[0]} failed: {answer.stdout}{answer.stderr}\n{tail}")
        return answer.returncode

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self, durable: bool = True) -> None:
        """`initdb` (C collation, trust on loopback); `durable=False` skips its fsyncs."""
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
            *([] if durable else ["--no-sync"]),
        )

    def running(self) -> bool:
        """`pg_ctl status`: 0 when a postmaster runs on this data dir."""
        if not self.initialized:
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", timeout=30, check=False) == 0

    def start(self, durable: bool = True, max_connections: int = 100) -> None:
        """`pg_ctl start -w`; `durable=False` (throwaway data) turns fsync off."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            f" -c max_connections={max_connections}" + ("" if durable else " -c fsync=off")
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log_path),
            "-t",
            str(START_TIMEOUT_S),
            "-w",
            "start",
        )

    def create_database(
        self, name: str, template: str = "template0", if_missing: bool = False
    ) -> str:
        """A database (`name`: [a-z0-9_]) copied from `template`, and its URL. By default
        an existing one is dropped first; `if_missing` keeps it."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if if_missing:
                    exists = conn.exec_driver_sql(
                        "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
                    ).first()
                    if exists is not None:
                        return self.database_url(name)
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            engine.dispose()
        return self.database_url(name)

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m mode` (fast: sessions ended, a clean shutdown) when running."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-t", "60", "stop")
