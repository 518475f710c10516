"""LogStore: CloudWatch Logs groups, streams and events in their own SQLite file.

Kept apart from the control store (`logs.db` next to `metrics.db`): log volume never
slows a RunTask, and a burst of output never waits on the control store's lock.

    groups   (id, name, created, retention_days)
    streams  (id, group_id, name, created, first/last event, last ingestion, bytes,
              ship_ns, ship_seq: how far an agent's shipment has been stored)
    events   (id, group_id, stream_id, ts, ingested, message)
             indexed by (stream_id, ts, id) for GetLogEvents and by (group_id, ts, id)
             for FilterLogEvents and the retention delete

One connection behind a lock (the metrics store's approach): API handlers and agent
shipments write whole batches in one transaction each; a background thread deletes
events past each group's retention (or the server's cap) every minute, in bounded
chunks so no caller waits long for the lock. Times are epoch milliseconds, as on
the wire. Thread-safe.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.logs.tokens import Position
from dockyard.store.sidecar import open_sidecar

log = logging.getLogger(__name__)

DEFAULT_CAP_S = 7 * 86400.0  # events of groups without a retention policy
EXPIRE_EVERY_S = 60.0
EXPIRE_CHUNK = 5000
EVENT_OVERHEAD = 26  # bytes AWS counts per event on top of its message

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS groups (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,
        retention_days INTEGER)""",
    """CREATE TABLE IF NOT EXISTS streams (
        id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL,
        created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER,
        last_ingestion INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0,
        ship_ns INTEGER NOT NULL DEFAULT -1, ship_seq INTEGER NOT NULL DEFAULT -1,
        UNIQUE (group_id, name))""",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL,
        ts INTEGER NOT NULL, ingested INTEGER NOT NULL, message TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_stream_ts ON events (stream_id, ts, id)",
    "CREATE INDEX IF NOT EXISTS events_group_ts ON events (group_id, ts, id)",
)


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    created: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class Stream:
    id: int
    group_id: int
    name: str
    created: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int | None
    stored_bytes: int
    ship_position: tuple[int, int]  # (docker ns, line number at that ns) stored so far


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    stream_id: int
    timestamp: int
    ingested: int
    message: str

    @property
    def position(self) -> Position:
        return self.timestamp, self.id


_GROUP_SQL = """SELECT g.id, g.name, g.created, g.retention_days,
    COALESCE((SELECT SUM(stored_bytes) FROM streams s WHERE s.group_id = g.id), 0) FROM groups g"""
_STREAM_SQL = """SELECT id, group_id, name, created, first_event, last_event, last_ingestion,
    stored_bytes, ship_ns, ship_seq FROM streams"""
_EVENT_SQL = "SELECT id, stream_id, ts, ingested, message FROM events"


def _stream(row: Sequence[Any]) -> Stream:
    id_, group_id, name, created, first, last, ingested, size, ship_ns, ship_seq = row
    return Stream(id_, group_id, name, created, first, last, ingested, size, (ship_ns, ship_seq))


class LogStore:
    """Log groups, streams and events; `path` None keeps them in memory (tests)."""

    def __init__(
        self,
        path: Path | None,
        *,
        cap_s: float = DEFAULT_CAP_S,
        clock: Callable[[], float] = time.time,
        expire_interval_s: float | None = EXPIRE_EVERY_S,
    ) -> None:
        self.cap_s = cap_s
        self.clock = clock
        self._lock = threading.Lock()
        self._db = open_sidecar(path, _SCHEMA)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if expire_interval_s is not None:
            self._thread = threading.Thread(
                target=self._run, args=(expire_interval_s,), name="logs-expiry", daemon=True
            )
            self._thread.start()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    # --- groups ---------------------------------------------------------------------------

    def create_group(self, name: str, now_ms: int) -> bool:
        """False when the group exists already."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO groups (name, created) VALUES (?, ?)", (name, now_ms)
            )
            return cursor.rowcount == 1

    def group(self, name: str) -> Group | None:
        with self._lock:
            row = self._db.execute(_GROUP_SQL + " WHERE g.name = ?", (name,)).fetchone()
        return Group(*row) if row else None

    def groups(
        self, *, prefix: str = "", contains: str = "", after: str = "", limit: int = 50
    ) -> list[Group]:
        """Groups by name, after `after`; `contains` matches case-insensitively."""
        sql = _GROUP_SQL + " WHERE g.name > ? AND g.name >= ?"
        args: list[object] = [after, prefix]
        if prefix:
            sql += " AND substr(g.name, 1, ?) = ?"
            args += [len(prefix), prefix]
        if contains:
            sql += " AND instr(lower(g.name), lower(?)) > 0"
            args.append(contains)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY g.name LIMIT ?", (*args, limit)).fetchall()
        return [Group(*row) for row in rows]

    def delete_group(self, name: str) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT id FROM groups WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM events WHERE group_id = ?", row)
            db.execute("DELETE FROM streams WHERE group_id = ?", row)
            db.execute("DELETE FROM groups WHERE id = ?", row)
            return True

    def set_retention(self, name: str, days: int | None) -> bool:
        with self._tx() as db:
            cursor = db.execute("UPDATE groups SET retention_days = ? WHERE name = ?", (days, name))
            return cursor.rowcount == 1

    # --- streams --------------------------------------------------------------------------

    def create_stream(self, group_id: int, name: str, now_ms: int) -> bool:
        """False when the stream exists already."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO streams (group_id, name, created) VALUES (?, ?, ?)",
                (group_id, name, now_ms),
            )
            return cursor.rowcount == 1

    def stream(self, group_id: int, name: str) -> Stream | None:
        with self._lock:
            row = self._db.execute(
                _STREAM_SQL + " WHERE group_id = ? AND name = ?", (group_id, name)
            ).fetchone()
        return _stream(row) if row else None

    def streams(
        self,
        group_id: int,
        *,
        prefix: str = "",
        by_last_event: bool = False,
        descending: bool = False,
        after: tuple[int, str] | None = None,
        limit: int = 50,
    ) -> list[Stream]:
        """A page of a group's streams by name, or by last event time (then name)."""
        keys = ["COALESCE(last_event, 0)", "name"] if by_last_event else ["name"]
        sql = _STREAM_SQL + " WHERE group_id = ?"
        args: list[object] = [group_id]
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            args += [len(prefix), prefix]
        direction = "DESC" if descending else "ASC"
        if after is not None:
            marks = ", ".join("?" * len(keys))
            sql += f" AND ({', '.join(keys)}) {'<' if descending else '>'} ({marks})"
            args += list(after) if by_last_event else [after[1]]
        sql += " ORDER BY " + ", ".join(f"{key} {direction}" for key in keys) + " LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [_stream(row) for row in rows]

    def delete_stream(self, group_id: int, name: str) -> bool:
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM streams WHERE group_id = ? AND name = ?", (group_id, name)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM events WHERE stream_id = ?", row)
            db.execute("DELETE FROM streams WHERE id = ?", row)
            return True

    # --- events ---------------------------------------------------------------------------

    def append(
        self,
        stream: Stream,
        events: Sequence[tuple[int, str]],
        now_ms: int,
        ship_position: tuple[int, int] | None = None,
    ) -> None:
        """Store (timestamp, message) events in one transaction; `ship_position` records
        how far an agent's shipment got, so a resent batch is not stored twice."""
        if not events and ship_position is None:
            return
        size = sum(len(m.encode()) + EVENT_OVERHEAD for _, m in events)
        stamps = [ts for ts, _ in events]
        with self._tx() as db:
            db.executemany(
                "INSERT INTO events (group_id, stream_id, ts, ingested, message)"
                " VALUES (?, ?, ?, ?, ?)",
                [(stream.group_id, stream.id, ts, now_ms, message) for ts, message in events],
            )
            if events:
                db.execute(
                    """UPDATE streams SET stored_bytes = stored_bytes + ?, last_ingestion = ?,
                        first_event = min(COALESCE(first_event, ?), ?),
                        last_event = max(COALESCE(last_event, ?), ?) WHERE id = ?""",
                    (size, now_ms, min(stamps), min(stamps), max(stamps), max(stamps), stream.id),
                )
            if ship_position is not None:
                db.execute(
                    "UPDATE streams SET ship_ns = ?, ship_seq = ? WHERE id = ?",
                    (*ship_position, stream.id),
                )

    def read(
        self,
        stream_id: int,
        start: int,
        end: int,
        limit: int,
        *,
        after: Position | None = None,
        before: Position | None = None,
    ) -> list[Event]:
        """Events of one stream in [start, end), oldest first: the first `limit` after
        `after`, or the last `limit` before `before` (or before the end)."""
        sql = _EVENT_SQL + " WHERE stream_id = ? AND ts >= ? AND ts < ?"
        args: list[object] = [stream_id, start, end]
        if after is not None:
            sql += " AND (ts, id) > (?, ?)"
            args += list(after)
            sql += " ORDER BY ts, id LIMIT ?"
        else:
            if before is not None:
                sql += " AND (ts, id) < (?, ?)"
                args += list(before)
            sql += " ORDER BY ts DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        events = [Event(*row) for row in rows]
        return events if after is not None else events[::-1]

    def scan(
        self,
        group_id: int,
        start: int,
        end: int,
        after: Position,
        limit: int,
        *,
        stream_ids: Sequence[int] | None = None,
    ) -> list[Event]:
        """Up to `limit` events of a group (of `stream_ids` when given) in [start, end)
        after `after`, interleaved by time: what FilterLogEvents reads, page by page."""
        sql = _EVENT_SQL + " WHERE group_id = ? AND ts >= ? AND ts < ? AND (ts, id) > (?, ?)"
        args: list[object] = [group_id, start, end, *after]
        if stream_ids is not None:
            sql += f" AND stream_id IN ({','.join('?' * len(stream_ids))})"
            args += list(stream_ids)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, id LIMIT ?", (*args, limit)).fetchall()
        return [Event(*row) for row in rows]

    def stream_names(self, stream_ids: Sequence[int]) -> dict[int, str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, name FROM streams WHERE id IN ({','.join('?' * len(stream_ids))})",
                list(stream_ids),
            ).fetchall()
        return {int(i): str(n) for i, n in rows}

    # --- retention ------------------------------------------------------------------------

    def expire(self) -> int:
        """Delete events past their group's retention (or the server's cap); returns how
        many. Chunked: the lock is released between chunks."""
        now_ms = int(self.clock() * 1000)
        with self._lock:
            groups = self._db.execute("SELECT id, retention_days FROM groups").fetchall()
        deleted = 0
        for group_id, days in groups:
            keep_s = days * 86400.0 if days is not None else self.cap_s
            floor = now_ms - int(keep_s * 1000)
            while True:
                with self._tx() as db:
                    rows = db.execute(
                        "SELECT id, stream_id, length(CAST(message AS BLOB)) FROM events"
                        " WHERE group_id = ? AND ts < ? ORDER BY ts LIMIT ?",
                        (group_id, floor, EXPIRE_CHUNK),
                    ).fetchall()
                    if not rows:
                        break
                    freed: dict[int, int] = {}
                    for _, stream_id, size in rows:
                        freed[stream_id] = freed.get(stream_id, 0) + size + EVENT_OVERHEAD
                    db.executemany("DELETE FROM events WHERE id = ?", [(r[0],) for r in rows])
                    db.executemany(
                        "UPDATE streams SET stored_bytes = max(stored_bytes - ?, 0),"
                        " first_event = (SELECT min(ts) FROM events WHERE stream_id = ?)"
                        " WHERE id = ?",
                        [(size, sid, sid) for sid, size in freed.items()],
                    )
                deleted += len(rows)
                if len(rows) < EXPIRE_CHUNK:
                    break
        return deleted

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.expire()
            except Exception:  # keep expiring; a locked or full disk may clear up
                log.exception("log expiry failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            self._db.close()
