"""The latest figures of each metric, in memory, and the sink collectors write to.

    collectors (agent channel: metrics/ecs.py; LB controller: lb/alb_metrics.py)
        -> MetricsSink.put(samples) -> MetricsStore (CloudWatch's datapoints, durable)
                                    -> LatestMetrics (the last ~30 s: Prometheus gauges)

Prometheus wants "the value now" at every scrape; asking the MetricsStore for it would
cost a query per metric per scrape, so the sink keeps the last few 10-second buckets
of each metric here, merged as they arrive (memory grows with metrics, not samples).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from dockyard.metrics.model import MetricKey, StatisticSet
from dockyard.metrics.store import MetricsStore, Sample

BUCKET_S = 10


class LatestMetrics:
    """Per metric, 10-second buckets of the last `window_s`; `snapshot` merges them."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._buckets: dict[MetricKey, dict[int, StatisticSet]] = {}
        self._totals: dict[MetricKey, float] = {}  # sum since start (Prometheus counters)
        self._lock = threading.Lock()

    def put(self, samples: Iterable[Sample]) -> None:
        with self._lock:
            for key, timestamp, stats, _unit in samples:
                buckets = self._buckets.setdefault(key, {})
                bucket = int(timestamp // BUCKET_S) * BUCKET_S
                buckets.setdefault(bucket, StatisticSet()).merge(stats)
                if not stats.empty:
                    self._totals[key] = self._totals.get(key, 0.0) + stats.sum
                oldest = bucket - self.window_s
                for old in [b for b in buckets if b < oldest]:
                    del buckets[old]

    def snapshot(self, now: float, namespace: str | None = None) -> dict[MetricKey, StatisticSet]:
        """Metrics with samples in the last `window_s` before `now`, merged."""
        out: dict[MetricKey, StatisticSet] = {}
        since = now - self.window_s - BUCKET_S
        with self._lock:
            for key, buckets in self._buckets.items():
                if namespace is not None and key.namespace != namespace:
                    continue
                merged = StatisticSet()
                for bucket, stats in buckets.items():
                    if bucket >= since:
                        merged.merge(stats)
                if not merged.empty:
                    out[key] = merged
        return out

    def total(self, key: MetricKey) -> float:
        """The sum of every sample of `key` since start."""
        with self._lock:
            return self._totals.get(key, 0.0)

    def forget_before(self, now: float) -> None:
        """Drop metrics with nothing recent (a deleted service's keys)."""
        since = now - self.window_s - BUCKET_S
        with self._lock:
            for key in [k for k, b in self._buckets.items() if max(b, default=0) < since]:
                del self._buckets[key]


class MetricsSink:
    """Where collectors put samples: the store (when the server has one) and the latest."""

    def __init__(self, store: MetricsStore | None, latest: LatestMetrics | None = None) -> None:
        self.store = store
        self.latest = latest

    def put(self, samples: list[Sample]) -> None:
        if not samples:
            return
        if self.store is not None:
            self.store.put(samples)
        if self.latest is not None:
            self.latest.put(samples)
