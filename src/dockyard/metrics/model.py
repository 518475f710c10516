"""Pure values of the metrics pipeline: metric identity and statistic sets.

A `StatisticSet` (CloudWatch's own term) is what is stored per time bucket: sample
count, sum, minimum and maximum, from which every statistic except percentiles
is derived. Sets merge associatively, so pre-aggregation on agents, rollup from
10-second to 1-minute buckets and a query's period aggregation are one operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass(frozen=True, order=True)
class MetricKey:
    """A metric's identity: namespace, name and dimensions (sorted by name)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls, namespace: str, name: str, dimensions: Mapping[str, str] | None = None
    ) -> MetricKey:
        return cls(namespace, name, tuple(sorted((dimensions or {}).items())))

    @classmethod
    def from_aws(
        cls, namespace: str, name: str, dimensions: Iterable[Mapping[str, str]] | None
    ) -> MetricKey:
        """From CloudWatch's `[{"Name": ..., "Value": ...}]` form."""
        return cls.of(namespace, name, {d["Name"]: d["Value"] for d in dimensions or ()})

    def aws_dimensions(self) -> list[dict[str, str]]:
        return [{"Name": n, "Value": v} for n, v in self.dimensions]


@dataclass
class StatisticSet:
    sample_count: float = 0.0
    sum: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    @classmethod
    def of(cls, *values: float) -> StatisticSet:
        out = cls()
        for value in values:
            out.add(value)
        return out

    def add(self, value: float) -> None:
        self.sample_count += 1
        self.sum += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def merge(self, other: StatisticSet) -> None:
        if other.sample_count <= 0:
            return
        self.sample_count += other.sample_count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def empty(self) -> bool:
        return self.sample_count <= 0

    @property
    def average(self) -> float:
        return self.sum / self.sample_count if self.sample_count else 0.0

    def statistic(self, name: str) -> float:
        """One of STATISTICS by CloudWatch's name."""
        if name == "SampleCount":
            return self.sample_count
        if name == "Average":
            return self.average
        if name == "Sum":
            return self.sum
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        raise ValueError(f"unknown statistic {name!r}")


@dataclass(frozen=True)
class Datapoint:
    """One aggregated bucket of a query: its start time (epoch seconds) and statistics."""

    timestamp: float
    stats: StatisticSet
    unit: str = "None"
