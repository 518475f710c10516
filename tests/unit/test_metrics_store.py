"""MetricsStore: bucketing, both resolutions against a brute-force oracle, persistence
across a restart, retention, the metric index and thread safety."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.metrics.model import MetricKey, StatisticSet
from dockyard.metrics.store import (
    HIGH_RES_S,
    LOW_RES_S,
    MetricsStore,
    bucket_start,
    resolution_for,
)

NOW = 1_700_000_000.0  # a multiple of 60 would hide alignment bugs: 1_700_000_000 % 60 == 20
CPU = MetricKey.of("AWS/ECS", "CPUUtilization", {"ClusterName": "c", "ServiceName": "s"})


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[MetricsStore]:
    metrics = MetricsStore(None, clock=clock, flush_interval_s=None)
    yield metrics
    metrics.close()


@pytest.mark.parametrize(
    ("period", "start_ago", "expected"),
    [
        pytest.param(1, 60, HIGH_RES_S, id="1s"),
        pytest.param(10, 60, HIGH_RES_S, id="10s"),
        pytest.param(30, 5 * 3600, HIGH_RES_S, id="30s-even-when-old"),
        pytest.param(60, 60, LOW_RES_S, id="minute"),
        pytest.param(300, 60, LOW_RES_S, id="5-minutes"),
        pytest.param(90, 3600, HIGH_RES_S, id="90s-recent"),
        pytest.param(90, 4 * 3600, LOW_RES_S, id="90s-beyond-window"),
    ],
)
def test_resolution_choice(period: int, start_ago: float, expected: int) -> None:
    assert resolution_for(period, NOW - start_ago, NOW, 3 * 3600) == expected


@pytest.mark.parametrize(
    ("ts", "width", "expected"),
    [(0, 60, 0), (59.9, 60, 0), (60, 60, 60), (-1, 60, -60), (125.5, 10, 120)],
)
def test_bucket_start(ts: float, width: int, expected: int) -> None:
    assert bucket_start(ts, width) == expected


def test_put_then_query_merges_statistics(store: MetricsStore) -> None:
    base = bucket_start(NOW - 600, 60)
    store.put(
        [
            (CPU, base + 1, StatisticSet.of(10, 20), "Percent"),
            (CPU, base + 50, StatisticSet.of(60), "Percent"),
            (CPU, base + 61, StatisticSet.of(5), "Percent"),
        ]
    )
    points = store.query(CPU, base, base + 120, 60)
    assert [p.timestamp for p in points] == [base, base + 60]
    first = points[0].stats
    assert (first.sample_count, first.sum, first.minimum, first.maximum) == (3, 90, 10, 60)
    assert first.average == 30
    assert points[0].unit == "Percent"
    assert points[1].stats.sum == 5


def test_ten_second_buckets_for_sub_minute_periods(store: MetricsStore) -> None:
    base = bucket_start(NOW - 600, 60)
    store.put([(CPU, base + s, StatisticSet.of(s), "None") for s in (1, 11, 12, 31)])
    points = store.query(CPU, base, base + 60, 10)
    assert [(p.timestamp - base, p.stats.sample_count) for p in points] == [
        (0, 1),
        (10, 2),
        (30, 1),
    ]
    thirty = store.query(CPU, base, base + 60, 30)
    assert [(p.timestamp - base, p.stats.sum) for p in thirty] == [(0, 24), (30, 31)]


def test_units_stay_apart_unless_filtered(store: MetricsStore) -> None:
    base = bucket_start(NOW - 600, 60)
    store.put([(CPU, base, StatisticSet.of(1), "Count"), (CPU, base, StatisticSet.of(2), "Bytes")])
    both = store.query(CPU, base, base + 60, 60)
    assert sorted(p.unit for p in both) == ["Bytes", "Count"]
    only = store.query(CPU, base, base + 60, 60, unit="Count")
    assert [(p.unit, p.stats.sum) for p in only] == [("Count", 1)]


def test_unknown_metric_and_empty_sets(store: MetricsStore) -> None:
    store.put([(CPU, NOW, StatisticSet(), "None")])
    assert store.query(CPU, NOW - 60, NOW + 60, 60) == []
    assert store.list_metrics() == []


samples_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=7200, allow_nan=False),  # seconds before NOW
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3)),
        st.sampled_from(["Count", "Percent"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(
    samples=samples_strategy,
    period=st.sampled_from([1, 10, 30, 60, 120, 300, 3600]),
    start_ago=st.integers(min_value=0, max_value=7200),
    length=st.integers(min_value=1, max_value=7200),
    unit=st.sampled_from([None, "Count"]),
)
def test_query_matches_brute_force(
    samples: list[tuple[float, float, str]],
    period: int,
    start_ago: int,
    length: int,
    unit: str | None,
) -> None:
    """Every period and range against recomputing each bucket from the raw samples."""
    clock = Clock()
    store = MetricsStore(None, clock=clock, flush_interval_s=None)
    try:
        for ago, value, sample_unit in samples:  # one put per sample, flushed in between
            store.put([(CPU, NOW - ago, StatisticSet.of(value), sample_unit)])
            if value > 0:
                store.flush()
        start, end = NOW - start_ago, NOW - start_ago + length
        got = store.query(CPU, start, end, period, unit=unit)
        res = resolution_for(period, start, NOW, store.high_res_window_s)
        expected: dict[tuple[int, str], StatisticSet] = {}
        for ago, value, sample_unit in samples:
            stored_ts = bucket_start(NOW - ago, res)
            if unit not in (None, sample_unit):
                continue
            if bucket_start(start, res) <= stored_ts < end:
                expected.setdefault(
                    (bucket_start(stored_ts, period), sample_unit), StatisticSet()
                ).add(value)
        assert [(p.timestamp, p.unit) for p in got] == [
            (float(ts), u) for ts, u in sorted(expected)
        ]
        for point in got:
            want = expected[(int(point.timestamp), point.unit)]
            assert point.stats.sample_count == want.sample_count
            assert point.stats.sum == pytest.approx(want.sum, abs=1e-6)
            assert (point.stats.minimum, point.stats.maximum) == (want.minimum, want.maximum)
    finally:
        store.close()


def test_restart_keeps_history_and_index(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "metrics.db"
    first = MetricsStore(path, clock=clock, flush_interval_s=None)
    first.put([(CPU, NOW - 30, StatisticSet.of(42), "Percent")])
    first.close()  # close writes what is pending
    again = MetricsStore(path, clock=clock, flush_interval_s=None)
    try:
        assert again.list_metrics() == [CPU]
        assert [p.stats.maximum for p in again.query(CPU, NOW - 120, NOW, 60)] == [42]
        assert [p.stats.maximum for p in again.query(CPU, NOW - 120, NOW, 10)] == [42]
        again.put([(CPU, NOW - 30, StatisticSet.of(2), "Percent")])
        assert [p.stats.sample_count for p in again.query(CPU, NOW - 120, NOW, 60)] == [2]
    finally:
        again.close()


def test_flush_makes_data_visible_to_another_connection(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "metrics.db"
    writer = MetricsStore(path, clock=clock, flush_interval_s=None)
    reader = MetricsStore(path, clock=clock, flush_interval_s=None)
    try:
        writer.put([(CPU, NOW, StatisticSet.of(1), "None")])
        writer.flush()
        reader_fresh = MetricsStore(path, clock=clock, flush_interval_s=None)
        assert reader_fresh.list_metrics() == [CPU]
        reader_fresh.close()
    finally:
        writer.close()
        reader.close()


def test_retention_expires_old_buckets_and_metrics(clock: Clock) -> None:
    store = MetricsStore(
        None, clock=clock, retention_s=3600, high_res_window_s=600, flush_interval_s=None
    )
    try:
        stale = MetricKey.of("Custom", "Stale")
        store.put(
            [
                (CPU, NOW - 100, StatisticSet.of(1), "None"),
                (stale, NOW - 100, StatisticSet.of(1), "None"),
            ]
        )
        clock.now = NOW + 1200  # past the 10 s window, inside retention
        store.put([(CPU, clock.now - 5, StatisticSet.of(2), "None")])
        store.expire()
        assert [p.stats.sum for p in store.query(CPU, NOW - 200, clock.now, 10)] == [2]
        assert [p.stats.sum for p in store.query(CPU, NOW - 200, clock.now, 60)] == [1, 2]
        clock.now = NOW + 3650  # the stale metric's last sample is beyond retention
        store.expire()
        assert store.list_metrics() == [CPU]
        assert store.query(stale, 0, clock.now, 60) == []
        assert [p.stats.sum for p in store.query(CPU, 0, clock.now, 60)] == [2]
    finally:
        store.close()


def test_samples_older_than_retention_are_ignored(clock: Clock) -> None:
    store = MetricsStore(None, clock=clock, retention_s=3600, flush_interval_s=None)
    try:
        store.put([(CPU, NOW - 7200, StatisticSet.of(1), "None")])
        assert store.query(CPU, 0, NOW, 60) == []
        assert store.list_metrics() == []
    finally:
        store.close()


def test_list_metrics_filters(store: MetricsStore, clock: Clock) -> None:
    cluster = MetricKey.of("AWS/ECS", "CPUUtilization", {"ClusterName": "c"})
    other = MetricKey.of("AWS/ECS", "MemoryUtilization", {"ClusterName": "d"})
    custom = MetricKey.of("App", "Latency")
    store.put([(k, NOW, StatisticSet.of(1), "None") for k in (CPU, cluster, other)])
    clock.now = NOW + 4 * 3600
    store.put([(custom, clock.now, StatisticSet.of(1), "None")])
    assert store.list_metrics() == sorted([CPU, cluster, other, custom])
    assert store.list_metrics(namespace="App") == [custom]
    assert store.list_metrics(name="CPUUtilization") == sorted([CPU, cluster])
    assert store.list_metrics(dimensions={"ClusterName": "c"}) == sorted([CPU, cluster])
    assert store.list_metrics(dimensions={"ServiceName": None}) == [CPU]
    assert store.list_metrics(dimensions={"ClusterName": None}) == sorted([CPU, cluster, other])
    assert store.list_metrics(active_since=clock.now - 3 * 3600) == [custom]


def test_background_flusher_and_concurrent_puts(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.db", flush_interval_s=0.01)
    now = store.clock()
    try:

        def worker(n: int) -> None:
            for i in range(200):
                store.put([(CPU, now - 5, StatisticSet.of(n * 1000 + i), "None")])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        points = store.query(CPU, now - 120, now + 1, 3600)
        assert sum(p.stats.sample_count for p in points) == 800
    finally:
        store.close()
