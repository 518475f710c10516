"""MetricsStore: INTERFACE ONLY (to be implemented; see the signatures' docstrings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from dockyard.metrics.model import Datapoint, MetricKey, StatisticSet

Sample = tuple[MetricKey, float, StatisticSet, str]  # key, timestamp, stats, unit


class MetricsStore:
    """Datapoints at 10 s resolution for the last hour and 1-minute resolution up to
    `retention_s`, in its own SQLite file (or in memory when `path` is None)."""

    def __init__(self, path: Path | None, *, retention_s: float = 15 * 86400) -> None:
        raise NotImplementedError

    def put(self, samples: Iterable[Sample]) -> None:
        """Merge samples into their buckets (thread-safe; cheap: memory first, flushed
        in batches)."""
        raise NotImplementedError

    def query(self, key: MetricKey, start: float, end: float, period: int) -> list[Datapoint]:
        """Buckets of `period` seconds (aligned to the epoch) with samples in
        [start, end), oldest first; only non-empty buckets."""
        raise NotImplementedError

    def list_metrics(
        self,
        namespace: str | None = None,
        name: str | None = None,
        dimensions: Mapping[str, str | None] | None = None,
        active_since: float | None = None,
    ) -> list[MetricKey]:
        """Known metrics matching the filters (a None dimension value matches any value)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
