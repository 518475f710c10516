"""Metrics collection on real Docker: a CPU-burning service task's CPUUtilization, read back
with the aws CLI (CloudWatch GetMetricStatistics), matches its real usage measured here
independently from its cgroup; GET /metrics parses with prometheus-client and shows it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dockyard.lb.alb_metrics import NAMESPACE
from dockyard.metrics.latest import LatestMetrics, MetricsSink
from dockyard.metrics.model import MetricKey
from dockyard.testing.images import BUSYBOX_IMAGE
from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_cli,
    remove_task_containers,
    wait_for,
)
from tests.e2e.test_lb_haproxy import (  # the in-process LB harness and its fixture
    Harness,
    eventually,
    forward,
    healthy,
    lb,  # noqa: F401 - a fixture
    put_group,
    put_lb,
    put_listener,
    put_target,
)

pytestmark = pytest.mark.e2e
CGROUP = Path("/sys/fs/cgroup")


def _cpu_ns(container_id: str) -> int:
    """Cumulative CPU of a container, read here without the agent's code."""
    for path in (
        CGROUP / "cpuacct" / "docker" / container_id / "cpuacct.usage",
        CGROUP / "cpuacct" / "system.slice" / f"docker-{container_id}.scope" / "cpuacct.usage",
    ):
        if path.exists():
            return int(path.read_text())
    for path in (
        CGROUP / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",
        CGROUP / "docker" / container_id / "cpu.stat",
    ):
        if path.exists():
            usage = next(x for x in path.read_text().splitlines() if x.startswith("usage_usec"))
            return int(usage.split()[1]) * 1000
    raise AssertionError(f"no cgroup found for {container_id}")


@pytest.fixture
def burning(
    tmp_path: Path,
    server: ServerProcess,
    docker_images: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, str, str]]:
    """Cluster, service and container id of one task running a busy loop (cpu 1024)."""
    monkeypatch.setenv("DOCKYARD_METRICS_INTERVAL", "2")
    cluster = f"metrics-{uuid.uuid4().hex[:6]}"
    ecs = server.client()
    ecs.create_cluster(clusterName=cluster)
    agent = AgentProcess(
        server.endpoint,
        tmp_path / "agent",
        "127.0.1.41",
        cluster=cluster,
        cpu=2048,
        memory=1024,
        extra_args=["--stop-timeout", "1s"],
    )
    agent.start()
    try:
        ecs.register_task_definition(
            family="burn",
            cpu="1024",
            memory="64",
            containerDefinitions=[
                {
                    "name": "burn",
                    "image": BUSYBOX_IMAGE,
                    "essential": True,
                    "command": ["sh", "-c", "while :; do :; done"],
                }
            ],
        )
        ecs.create_service(
            cluster=cluster, serviceName="burn", taskDefinition="burn", desiredCount=1
        )

        def running() -> str | None:
            arns = ecs.list_tasks(cluster=cluster, serviceName="burn")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            live = [t for t in tasks if t["lastStatus"] == "RUNNING"]
            return live[0]["containers"][0].get("runtimeId") if live else None

        container_id = wait_for(running, timeout=60, what="the burning task RUNNING")
        yield cluster, "burn", str(container_id)
    finally:
        ecs_cleanup(ecs, cluster)
        agent.stop()
        remove_task_containers(cluster)


def ecs_cleanup(ecs: Any, cluster: str) -> None:
    with contextlib.suppress(Exception):
        ecs.update_service(cluster=cluster, service="burn", desiredCount=0)


def _statistics(endpoint: str, cluster: str, service: str, start: float) -> list[dict[str, Any]]:
    done = aws_cli(
        endpoint,
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        "CPUUtilization",
        "--dimensions",
        f"Name=ClusterName,Value={cluster}",
        f"Name=ServiceName,Value={service}",
        "--start-time",
        str(int(start)),
        "--end-time",
        str(int(time.time()) + 60),
        "--period",
        "60",
        "--statistics",
        "Average",
        "Maximum",
        "SampleCount",
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["Datapoints"])


def test_cpu_utilisation_matches_real_usage(
    server: ServerProcess, burning: tuple[str, str, str]
) -> None:
    cluster, service, container_id = burning
    # Real usage over a window, measured from the container's cgroup.
    time.sleep(2)  # past the task's first (CPU-less) sample
    start, cpu0 = time.time(), _cpu_ns(container_id)
    time.sleep(12)
    real = (_cpu_ns(container_id) - cpu0) / ((time.time() - start) * 1e9) * 100  # 1024 units
    assert real > 20, f"the busy loop got only {real:.0f}% of a core"

    points = wait_for(
        lambda: [
            p
            for p in _statistics(server.endpoint, cluster, service, start - 60)
            if p["SampleCount"] >= 3
        ],
        timeout=30,
        interval=1,
        what="CPUUtilization datapoints",
    )
    averages = [p["Average"] for p in points]
    assert all(p["Unit"] == "Percent" for p in points)
    assert any(abs(a - real) <= 10 for a in averages), (real, points)

    # /metrics: Prometheus text, with this service's figures.
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    cpu = [
        s
        for s in families["dockyard_ecs_cpu_utilization_percent"].samples
        if s.labels == {"cluster": cluster, "service": service}
    ]
    assert cpu and abs(cpu[0].value - real) <= 15, (cpu, real)
    running = [
        s
        for s in families["dockyard_service_running_tasks"].samples
        if s.labels == {"cluster": cluster, "service": service}
    ]
    assert [s.value for s in running] == [1]
    tasks = [
        s
        for s in families["dockyard_tasks"].samples
        if s.labels["cluster"] == cluster and s.labels["status"] == "RUNNING"
    ]
    assert [s.value for s in tasks] == [1] and tasks[0].labels["service"] == service
    assert families["dockyard_agent_connections"].samples[0].value >= 1
    requests = families["dockyard_api_requests"].samples
    assert any(s.labels.get("action") == "CreateService" and s.value >= 1 for s in requests)
    assert "dockyard_service_reconcile_duration_seconds" in families
    assert "dockyard_placement_duration_seconds" in families


async def test_load_balancer_counters_become_alb_metrics(lb: Harness) -> None:  # noqa: F811
    """The LB controller's hook: HAProxy counters -> AWS/ApplicationELB samples, with the
    dimensions in AWS's forms."""
    latest = LatestMetrics()
    lb.controller.sink = MetricsSink(None, latest)
    lb.controller.metrics_interval_s = 0.5
    first = await lb.backend("one", "127.0.0.2")
    with lb.store.transaction() as tx:
        group = put_group(tx, "app")
        balancer = put_lb(tx, "web")
        put_listener(tx, balancer, lb.port, forward(group))
        put_target(tx, group, first.host, first.port)
    lb.controller.wake()
    await eventually(healthy(lb, 1), what="target healthy")
    name = balancer.split(":loadbalancer/", 1)[1]
    tg = group.split(":", 5)[5]
    both = {"LoadBalancer": name, "TargetGroup": tg}

    async def sampled_up() -> bool:  # the counters' baseline is a sample after the target is up
        hosts = latest.snapshot(time.time()).get(MetricKey.of(NAMESPACE, "HealthyHostCount", both))
        return hosts is not None and hosts.maximum == 1

    await eventually(sampled_up, what="a sample with the target up (the counters' baseline)")
    assert (await lb.spread(12)) == {"one": 12}

    async def counted() -> float:
        requests = [
            s.sum
            for k, s in latest.snapshot(time.time()).items()
            if k.name == "RequestCount" and dict(k.dimensions) == {"LoadBalancer": name}
        ]
        return (
            latest.total(MetricKey.of(NAMESPACE, "RequestCount", {"LoadBalancer": name}))
            if requests
            else 0
        )

    assert await eventually(counted, what="RequestCount") >= 12
    await asyncio.sleep(1)
    assert latest.total(MetricKey.of(NAMESPACE, "RequestCount", both)) == 12
    assert latest.total(MetricKey.of(NAMESPACE, "HTTPCode_Target_2XX_Count", both)) == 12
    healthy_hosts = latest.snapshot(time.time())[MetricKey.of(NAMESPACE, "HealthyHostCount", both)]
    assert healthy_hosts.maximum == 1
