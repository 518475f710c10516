"""A throwaway PostgreSQL cluster for tests: `initdb` + `pg_ctl` in a temp dir.

The cluster itself is dockyard.store.pg_local.LocalPostgres (what `dockyard up --ha` runs
too): Debian's `postgresql` binaries, a non-root owner (`dockyard-pg` when the tests run as
root), 127.0.0.1 on a free port below the kernel's ephemeral range, socket in the cluster's
own directory, `trust` authentication, C collation. Here its data is throwaway (fsync off,
at most 60 connections) and `stop()` stops it (`pg_ctl stop -m immediate`) and removes
the directory.

    with throwaway_postgres() as pg:
        store = open_store(pg.url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dockyard.store.pg_local import (
    PG_USER,
    LocalPostgres,
    PostgresError,
    PostgresUnavailable,
    cluster_owner,
    free_port,
    pg_bin_dir,
)

__all__ = ["PG_USER", "PostgresCluster", "PostgresUnavailable", "pg_bin_dir", "throwaway_postgres"]


class PostgresCluster(LocalPostgres):
    """A running throwaway cluster; `url` is a SQLAlchemy URL to its `postgres` database."""

    def start(self, durable: bool = False, max_connections: int = 60) -> None:
        self.init(durable=durable)
        super().start(durable=durable, max_connections=max_connections)

    def stop(self, mode: str = "immediate") -> None:
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            super().stop(mode)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres(durable: bool = False) -> Iterator[PostgresCluster]:
    """Start a cluster in a new temp dir; stop it and remove the dir on exit. `durable`:
    fsync on (benchmarks compare it with SQLite's durable commits); tests leave it off."""
    bin_dir = pg_bin_dir()
    owner = cluster_owner()
    root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PostgresCluster(root=root, port=free_port(), owner=owner, bin_dir=bin_dir)
    try:
        cluster.start(durable=durable)
        yield cluster
    finally:
        cluster.stop()
