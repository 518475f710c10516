"""One server per data dir: a second `dockyard server` on the same --data-dir exits with
a clear error naming the first one's pid and changes nothing; after a `kill -9` of the
first, a new server starts on the same dir (the kernel released the lock)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerProcess, free_port

pytestmark = pytest.mark.e2e


def second_server(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "server", "--port", str(free_port()),
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def files_state(db: Path) -> list[tuple[str, int, int] | None]:
    """(name, size, mtime) of the database and its WAL (SQLite's WAL mode writes commits to
    dockyard.db-wal; dockyard.db changes only at checkpoints); None: absent."""
    out: list[tuple[str, int, int] | None] = []
    for path in (db, db.with_name(db.name + "-wal")):
        stat = path.stat() if path.exists() else None
        out.append(None if stat is None else (path.name, stat.st_size, stat.st_mtime_ns))
    return out


def settled_state(db: Path, timeout: float = 20.0) -> list[tuple[str, int, int] | None]:
    """`files_state` once the first server's own WAL checkpoints (a thread, every 0.5 s:
    store/checkpoint.py) have copied its last commit into dockyard.db: unchanged over
    three checkpoint intervals."""
    deadline = time.monotonic() + timeout
    state = files_state(db)
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = files_state(db)
        if now == state:
            return now
        state = now
    raise AssertionError(f"the database files kept changing: {state}")


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path / "data")
    first.start(timeout=60)
    try:
        ecs = first.client()
        ecs.create_cluster(clusterName="kept")
        db = tmp_path / "data" / "dockyard.db"
        before = settled_state(db)
        refused = second_server(tmp_path / "data")
        assert refused.returncode == 2, refused.stderr
        assert first.proc is not None
        assert f"pid {first.proc.pid}" in refused.stderr
        assert "in use by another dockyard server" in refused.stderr
        assert files_state(db) == before  # the refused server touched nothing
        assert [c["clusterName"] for c in ecs.describe_clusters(clusters=["kept"])["clusters"]] == [
            "kept"
        ]

        first.kill9()
        first.start(timeout=60)  # restart after a crash: the lock died with the process
        assert ecs.describe_clusters(clusters=["kept"])["clusters"][0]["status"] == "ACTIVE"
    finally:
        first.stop()
