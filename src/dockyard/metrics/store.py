"""MetricsStore: datapoints in their own SQLite file, apart from the control store.

Two resolutions are kept, both written when samples arrive (no rollup job to lag):

    put(samples) -> pending (memory, merged per bucket) --flush every ~1 s--> SQLite
                                                           points_10s  (>= 3 hours)
                                                           points_60s  (retention_s)
                                                           metrics     (index, last seen)

`put` only touches memory (a lock held for microseconds), so the event loop and
agent threads never wait on the disk; a background thread flushes the pending
buckets as upserts that merge statistic sets in SQL (`count = count + excluded.count`,
`min = min(min, excluded.min)`), so cost grows with distinct buckets, not samples.
`flush()` is synchronous for callers that must be durable when they answer
(PutMetricData). `query` flushes first, so readers see every accepted sample.
Expiry is an indexed delete by bucket time, run by the same thread every minute.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from dockyard.metrics.model import Datapoint, MetricKey, StatisticSet
from dockyard.store.sidecar import open_sidecar

log = logging.getLogger(__name__)

Sample = tuple[MetricKey, float, StatisticSet, str]  # key, timestamp, stats, unit

HIGH_RES_S = 10
LOW_RES_S = 60
DEFAULT_HIGH_RES_WINDOW_S = 3 * 3600.0
DEFAULT_RETENTION_S = 15 * 86400.0
MAX_PENDING_BUCKETS = 200_000  # beyond this, put() flushes inline: memory stays bounded
EXPIRE_EVERY_S = 60.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS metrics (
        id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
        dimensions TEXT NOT NULL, last_seen REAL NOT NULL,
        UNIQUE (namespace, name, dimensions))""",
    "CREATE INDEX IF NOT EXISTS metrics_last_seen ON metrics (last_seen)",
    *(
        f"""CREATE TABLE IF NOT EXISTS points_{res}s (
            metric_id INTEGER NOT NULL, ts INTEGER NOT NULL, unit TEXT NOT NULL,
            count REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
            PRIMARY KEY (metric_id, ts, unit)) WITHOUT ROWID"""
        for res in (HIGH_RES_S, LOW_RES_S)
    ),
    *(
        f"CREATE INDEX IF NOT EXISTS points_{res}s_ts ON points_{res}s (ts)"
        for res in (HIGH_RES_S, LOW_RES_S)
    ),
)

_UPSERT = """INSERT INTO points_{res}s (metric_id, ts, unit, count, sum, min, max)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (metric_id, ts, unit) DO UPDATE SET
        count = count + excluded.count, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)"""

# (metric, resolution, bucket start, unit) -> merged statistics not yet on disk
_BucketKey = tuple[MetricKey, int, int, str]


def bucket_start(timestamp: float, width: int) -> int:
    """The start of the `width`-second bucket (aligned to the epoch) holding `timestamp`."""
    return int(math.floor(timestamp / width) * width)


def resolution_for(period: int, start: float, now: float, high_res_window_s: float) -> int:
    """Which stored resolution answers a query: 10 s buckets for sub-minute periods, and
    for periods that are not whole minutes while the range is still in the 10 s window;
    minute rollups otherwise (cheaper, and the only ones kept beyond the window)."""
    if period < LOW_RES_S:
        return HIGH_RES_S
    if period % LOW_RES_S and start >= now - high_res_window_s:
        return HIGH_RES_S
    return LOW_RES_S


class MetricsStore:
    """Datapoints at 10 s resolution for the last `high_res_window_s` (3 hours) and
    1-minute resolution up to `retention_s`, in its own SQLite file (or in memory when
    `path` is None). Thread-safe."""

    def __init__(
        self,
        path: Path | None,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        high_res_window_s: float = DEFAULT_HIGH_RES_WINDOW_S,
        clock: Callable[[], float] = time.time,
        flush_interval_s: float | None = 1.0,
    ) -> None:
        self.retention_s = retention_s
        self.high_res_window_s = min(high_res_window_s, retention_s)
        self.clock = clock
        self._db_lock = threading.Lock()  # the connection, the id cache
        self._pending_lock = threading.Lock()  # the pending buckets and last-seen times
        self._pending: dict[_BucketKey, StatisticSet] = {}
        self._seen: dict[MetricKey, float] = {}  # last seen, not yet on disk
        self._index: dict[MetricKey, tuple[int, float]] = {}  # id, last seen (on disk)
        self._db = open_sidecar(path, _SCHEMA)
        for row in self._db.execute(
            "SELECT id, namespace, name, dimensions, last_seen FROM metrics"
        ):
            key = MetricKey(row[1], row[2], tuple(tuple(d) for d in json.loads(row[3])))
            self._index[key] = (int(row[0]), float(row[4]))
        self._last_expiry = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_interval_s is not None:
            self._thread = threading.Thread(
                target=self._run, args=(flush_interval_s,), name="metrics-flush", daemon=True
            )
            self._thread.start()

    # --- writing --------------------------------------------------------------------------

    def put(self, samples: Iterable[Sample]) -> None:
        """Merge samples into their buckets (thread-safe; cheap: memory first, flushed
        in batches). Samples older than what a resolution keeps are not written to it."""
        now = self.clock()
        low_floor = now - self.retention_s
        high_floor = now - self.high_res_window_s
        with self._pending_lock:
            pending = self._pending
            for key, timestamp, stats, unit in samples:
                if stats.empty or timestamp < low_floor:
                    continue
                self._seen[key] = now
                for res in (HIGH_RES_S, LOW_RES_S):
                    if res == HIGH_RES_S and timestamp < high_floor:
                        continue
                    bucket = (key, res, bucket_start(timestamp, res), unit)
                    current = pending.get(bucket)
                    if current is None:
                        pending[bucket] = StatisticSet(
                            stats.sample_count, stats.sum, stats.minimum, stats.maximum
                        )
                    else:
                        current.merge(stats)
            too_many = len(pending) > MAX_PENDING_BUCKETS
        if too_many:
            self.flush()

    def flush(self) -> None:
        """Write pending buckets to disk now (one transaction)."""
        with self._db_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            seen, self._seen = self._seen, {}
        if not pending and not seen:
            return
        rows: dict[int, list[tuple[int, int, str, float, float, float, float]]] = {
            HIGH_RES_S: [],
            LOW_RES_S: [],
        }
        with self._db:
            for key, last_seen in seen.items():
                self._touch(key, last_seen)
            for (key, res, ts, unit), stats in pending.items():
                metric_id = self._index[key][0] if key in self._index else self._touch(key, 0.0)
                rows[res].append(
                    (
                        metric_id,
                        ts,
                        unit,
                        stats.sample_count,
                        stats.sum,
                        stats.minimum,
                        stats.maximum,
                    )
                )
            for res, batch in rows.items():
                if batch:
                    self._db.executemany(_UPSERT.format(res=res), batch)

    def _touch(self, key: MetricKey, last_seen: float) -> int:
        """The metric's id, creating its index row; records a later last-seen time."""
        known = self._index.get(key)
        if known is not None:
            if last_seen > known[1]:
                self._db.execute(
                    "UPDATE metrics SET last_seen = ? WHERE id = ?", (last_seen, known[0])
                )
                self._index[key] = (known[0], last_seen)
            return known[0]
        cursor = self._db.execute(
            "INSERT INTO metrics (namespace, name, dimensions, last_seen) VALUES (?, ?, ?, ?)",
            (key.namespace, key.name, json.dumps(key.dimensions), last_seen),
        )
        metric_id = int(cursor.lastrowid or 0)
        self._index[key] = (metric_id, last_seen)
        return metric_id

    def expire(self) -> None:
        """Drop buckets and index entries older than what each resolution keeps."""
        now = self.clock()
        with self._db_lock:
            self._flush_locked()
            self._expire_locked(now)
        self._last_expiry = now

    def _expire_locked(self, now: float) -> None:
        with self._db:
            self._db.execute(
                f"DELETE FROM points_{HIGH_RES_S}s WHERE ts < ?", (now - self.high_res_window_s,)
            )
            self._db.execute(
                f"DELETE FROM points_{LOW_RES_S}s WHERE ts < ?", (now - self.retention_s,)
            )
            floor = now - self.retention_s
            gone = [key for key, (_, seen) in self._index.items() if seen < floor]
            for key in gone:
                metric_id = self._index.pop(key)[0]
                self._db.execute("DELETE FROM metrics WHERE id = ?", (metric_id,))
                for res in (HIGH_RES_S, LOW_RES_S):
                    self._db.execute(f"DELETE FROM points_{res}s WHERE metric_id = ?", (metric_id,))

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.flush()
                if self.clock() - self._last_expiry >= EXPIRE_EVERY_S:
                    self.expire()
            except Exception:  # keep flushing; a full disk may clear up
                log.exception("metrics flush failed")

    # --- reading --------------------------------------------------------------------------

    def query(
        self,
        key: MetricKey,
        start: float,
        end: float,
        period: int,
        *,
        unit: str | None = None,
    ) -> list[Datapoint]:
        """Buckets of `period` seconds (aligned to the epoch) with samples in
        [start, end), oldest first; only non-empty buckets. Stored buckets count by their
        start: `start` is effectively rounded down to the stored resolution, as
        CloudWatch rounds StartTime down. Data of different units gives separate
        datapoints (same timestamp) unless `unit` selects one."""
        if period <= 0:
            raise ValueError("period must be positive")
        res = resolution_for(period, start, self.clock(), self.high_res_window_s)
        sql = (
            f"SELECT ts, unit, count, sum, min, max FROM points_{res}s"
            " WHERE metric_id = ? AND ts >= ? AND ts < ?"
        )
        with self._db_lock:
            self._flush_locked()
            known = self._index.get(key)
            if known is None:
                return []
            args: tuple[object, ...] = (known[0], bucket_start(start, res), end)
            if unit is not None:
                sql += " AND unit = ?"
                args = (*args, unit)
            rows = self._db.execute(sql + " ORDER BY ts", args).fetchall()
        out: dict[tuple[int, str], StatisticSet] = {}
        for ts, row_unit, count, total, low, high in rows:
            slot = (bucket_start(ts, period), row_unit)
            merged = out.setdefault(slot, StatisticSet())
            merged.merge(StatisticSet(count, total, low, high))
        return [Datapoint(float(ts), stats, u) for (ts, u), stats in sorted(out.items())]

    def list_metrics(
        self,
        namespace: str | None = None,
        name: str | None = None,
        dimensions: Mapping[str, str | None] | None = None,
        active_since: float | None = None,
    ) -> list[MetricKey]:
        """Known metrics matching the filters, sorted (a None dimension value matches any
        value; a metric matches when it has every filtered dimension, as ListMetrics does)."""
        with self._db_lock:
            self._flush_locked()
            index = list(self._index.items())
        wanted = dict(dimensions or {})
        out = []
        for key, (_, seen) in index:
            if namespace is not None and key.namespace != namespace:
                continue
            if name is not None and key.name != name:
                continue
            if active_since is not None and seen < active_since:
                continue
            if wanted:
                have = dict(key.dimensions)
                if any(
                    d not in have or (v is not None and have[d] != v) for d, v in wanted.items()
                ):
                    continue
            out.append(key)
        return sorted(out)

    def close(self) -> None:
        """Stop the flusher, write what is pending, close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._db_lock:
            try:
                self._flush_locked()
            finally:
                self._db.close()
