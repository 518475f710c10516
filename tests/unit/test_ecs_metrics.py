"""Agent metrics messages -> AWS/ECS samples; latest values; task counts; /metrics text."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from dockyard.agent.metrics import Reservation, TaskUsage, aggregate
from dockyard.api.prometheus import aws_families
from dockyard.metrics.ecs import ecs_samples
from dockyard.metrics.instruments import TaskCounts
from dockyard.metrics.latest import LatestMetrics, MetricsSink
from dockyard.metrics.model import MetricKey, StatisticSet

NOW = 1_700_000_000.0
CPU = "CPUUtilization"


def _key(name: str, **dims: str) -> MetricKey:
    return MetricKey.of("AWS/ECS", name, dims)


def test_a_message_becomes_samples_per_cluster_and_service() -> None:
    message = {
        "type": "metrics",
        "timestamp": NOW - 3,
        "groups": [
            {"cluster": "c1", "service": "web", "cpu": [2, 80, 20, 60], "memory": [2, 40, 10, 30]},
            {"cluster": "c1", "cpu": [1, 12.5, 12.5, 12.5]},
        ],
    }
    samples = ecs_samples(message, NOW)
    assert samples == [
        (
            _key(CPU, ClusterName="c1", ServiceName="web"),
            NOW - 3,
            StatisticSet(2, 80, 20, 60),
            "Percent",
        ),
        (
            _key("MemoryUtilization", ClusterName="c1", ServiceName="web"),
            NOW - 3,
            StatisticSet(2, 40, 10, 30),
            "Percent",
        ),
        (_key(CPU, ClusterName="c1"), NOW - 3, StatisticSet(1, 12.5, 12.5, 12.5), "Percent"),
    ]


@pytest.mark.parametrize(
    "group",
    [
        pytest.param({"service": "web", "cpu": [1, 1, 1, 1]}, id="no-cluster"),
        pytest.param({"cluster": "c1", "service": 5, "cpu": [1, 1, 1, 1]}, id="bad-service"),
        pytest.param({"cluster": "c1", "cpu": [1, 1, 1]}, id="short-set"),
        pytest.param({"cluster": "c1", "cpu": [0, 0, 0, 0]}, id="empty-set"),
        pytest.param({"cluster": "c1", "cpu": [1, 1, 5, 2]}, id="min-above-max"),
        pytest.param({"cluster": "c1", "cpu": [1, float("nan"), 1, 1]}, id="nan"),
        pytest.param({"cluster": "c1", "cpu": [True, 1, 1, 1]}, id="bool"),
        pytest.param({"cluster": "c1", "cpu": "50"}, id="not-a-list"),
        pytest.param("c1", id="not-an-object"),
    ],
)
def test_malformed_groups_are_skipped(group: Any) -> None:
    assert ecs_samples({"timestamp": NOW, "groups": [group]}, NOW) == []


@pytest.mark.parametrize(
    ("timestamp", "used"),
    [(NOW - 10, NOW - 10), (NOW - 3600, NOW), (None, NOW), ("soon", NOW)],
)
def test_timestamps_far_from_the_server_clock_are_replaced(timestamp: Any, used: float) -> None:
    message = {"timestamp": timestamp, "groups": [{"cluster": "c1", "cpu": [1, 5, 5, 5]}]}
    assert ecs_samples(message, NOW)[0][1] == used


def test_agent_aggregate_round_trips_into_the_service_average() -> None:
    """Two agents' partial sets for one service merge into the average of all tasks."""
    per_agent = [
        [TaskUsage("c1", "web", 512, 0, 50, None), TaskUsage("c1", "web", 1024, 0, 100, None)],
        [TaskUsage("c1", "web", 0, 0, 0, None)],
    ]
    latest = LatestMetrics()
    for tasks in per_agent:
        groups = aggregate(tasks, "c1", instance_cpu=4096, instance_memory=0)
        latest.put(ecs_samples({"timestamp": NOW, "groups": groups}, NOW))
    merged = latest.snapshot(NOW)[_key(CPU, ClusterName="c1", ServiceName="web")]
    assert (merged.sample_count, merged.average, merged.minimum, merged.maximum) == (3, 50, 0, 100)
    assert Reservation(1024, 0).memory_mib == 0


def test_latest_keeps_a_window_and_totals_since_start() -> None:
    latest = LatestMetrics(window_s=30)
    key = MetricKey.of("AWS/ApplicationELB", "RequestCount", {"LoadBalancer": "app/a/1"})
    for age in (100, 20, 10):
        latest.put([(key, NOW - age, StatisticSet.of(10), "Count")])
    assert latest.snapshot(NOW)[key].sum == 20
    assert latest.total(key) == 30
    assert latest.snapshot(NOW + 1000) == {}
    latest.forget_before(NOW + 1000)
    assert latest.total(key) == 30  # counters never go back


class _Store:
    def __init__(self) -> None:
        self.samples: list[Any] = []

    def put(self, samples: Any) -> None:
        self.samples.extend(samples)


def test_sink_writes_to_the_store_and_the_latest() -> None:
    store, latest = _Store(), LatestMetrics()
    sink = MetricsSink(store, latest)  # type: ignore[arg-type]
    sample = (_key(CPU, ClusterName="c1"), NOW, StatisticSet.of(5), "Percent")
    sink.put([sample])
    sink.put([])
    assert store.samples == [sample]
    assert latest.snapshot(NOW)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        pytest.param([(None, "PROVISIONING")], {"PROVISIONING": 1}, id="placed"),
        pytest.param(
            [(None, "PROVISIONING"), ("PROVISIONING", "RUNNING")], {"RUNNING": 1}, id="runs"
        ),
        pytest.param([(None, "PROVISIONING"), ("PROVISIONING", "STOPPED")], {}, id="stopped"),
        pytest.param([("RUNNING", "STOPPED")], {}, id="seeded-task-never-negative"),
    ],
)
def test_task_counts_follow_transitions(
    moves: list[tuple[str | None, str]], expected: dict[str, int]
) -> None:
    counts = TaskCounts()
    for before, after in moves:
        counts.moved("arn:c1", "service:web", before, after)
    assert {s: n for (_c, _g, s), n in counts.snapshot().items()} == expected


def test_task_counts_seed_ignores_stopped() -> None:
    counts = TaskCounts()
    counts.load([("arn:c1", None, "RUNNING", 3), ("arn:c1", "service:web", "STOPPED", 9)])
    assert counts.snapshot() == {("arn:c1", "", "RUNNING"): 3}


def test_aws_figures_parse_as_prometheus_text() -> None:
    latest = LatestMetrics()
    latest.put(
        [
            (
                _key(CPU, ClusterName="c1", ServiceName="web"),
                NOW,
                StatisticSet.of(40, 60),
                "Percent",
            ),
            (
                MetricKey.of(
                    "AWS/ApplicationELB",
                    "HTTPCode_Target_2XX_Count",
                    {"LoadBalancer": "app/a/1", "TargetGroup": "targetgroup/t/2"},
                ),
                NOW,
                StatisticSet.of(7),
                "Count",
            ),
        ]
    )

    class _C(Collector):
        def collect(self) -> Any:
            return aws_families(latest, NOW)

    registry = CollectorRegistry()
    registry.register(_C())
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    cpu = families["dockyard_ecs_cpu_utilization_percent"].samples[0]
    assert cpu.labels == {"cluster": "c1", "service": "web"} and cpu.value == 50
    codes = families["dockyard_alb_target_responses"].samples[0]
    assert codes.labels["code"] == "2XX" and codes.value == 7
