"""SQLite files beside the control store (metrics.db, logs.db): their own connection, WAL.

Data that is not control-plane state (datapoints, log events) lives in these files so
that its writes never wait for, or hold, the control store's write lock. One helper
opens them the same way everywhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def open_sidecar(path: Path | None, schema: Iterable[str]) -> sqlite3.Connection:
    """A connection usable from any thread (callers serialize with their own lock);
    `path` None keeps the database in memory (tests). The schema statements run once."""
    db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    with db:
        for statement in schema:
            db.execute(statement)
    return db
