"""`dockyard metrics` and the auto scaling part of `dockyard service describe`, against a
real server (high-resolution target tracking) and one fake-runtime agent whose tasks
report a synthetic 0.25 core each (no Docker).

A task reserving 256 CPU units that uses a quarter core runs at 100 % of its reservation;
a target-tracking policy at 75 % must then raise 2 tasks to ceil(2 x 100 / 75) = 3, and
the CLI must show the figures, the policy and the activity that explains the step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AgentProcess, ServerProcess, wait_for

pytestmark = pytest.mark.e2e


def dockyard(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DOCKYARD_ENDPOINT=endpoint, AWS_EC2_METADATA_DISABLED="true", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerProcess, str]]:
    monkeypatch.setenv("DOCKYARD_METRICS_INTERVAL", "2")
    monkeypatch.setenv("DOCKYARD_FAKE_CPU_CORES", "0.25")
    server = ServerProcess(tmp_path / "server", extra_args=["--target-tracking-period", "10"])
    server.start()
    cluster = f"cm-{uuid.uuid4().hex[:6]}"
    agent = AgentProcess(server.endpoint, tmp_path / "agent", "127.0.3.9", cluster=cluster,
                         cpu=4096, extra_args=["--fake-runtime"])
    try:
        server.client().create_cluster(clusterName=cluster)
        agent.start()
        yield server, cluster
    finally:
        agent.stop()
        server.stop()


def cpu_datapoints(server: ServerProcess, cluster: str) -> list[dict[str, Any]]:
    answer = server.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ECS", MetricName="CPUUtilization",
        Dimensions=[{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": "web"}],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=10, Statistics=["Average"],
    )
    return list(answer["Datapoints"])


def test_metrics_and_scaling_shown_by_the_cli(fleet: tuple[ServerProcess, str]) -> None:
    server, cluster = fleet
    ecs = server.client()
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "busybox", "cpu": 256, "memory": 128, "essential": True}])
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=2)
    wait_for(lambda: ecs.describe_services(cluster=cluster, services=["web"])["services"][0]["runningCount"] == 2,
             60, what="2 running tasks")
    points = wait_for(lambda: cpu_datapoints(server, cluster), 60, interval=1, what="CPU datapoints")
    assert all(abs(p["Average"] - 100.0) < 1.0 for p in points), points

    scaling = server.client("application-autoscaling")
    resource = f"service/{cluster}/web"
    scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource,
                                     ScalableDimension="ecs:service:DesiredCount",
                                     MinCapacity=1, MaxCapacity=4)
    scaling.put_scaling_policy(
        PolicyName="cpu75", ServiceNamespace="ecs", ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 75.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 300, "ScaleInCooldown": 300,
        })
    wait_for(lambda: ecs.describe_services(cluster=cluster, services=["web"])["services"][0]["desiredCount"] == 3,
             120, interval=1, what="scale-out to 3 (ceil(2 x 100 / 75))")

    shown = dockyard(server.endpoint, "metrics", "--cluster", cluster, "web", "--minutes", "10",
                     "--period", "10", "--table")
    assert shown.returncode == 0, shown.stderr
    assert "CPU % (avg)" in shown.stdout and "100.0" in shown.stdout, shown.stdout
    as_json = dockyard(server.endpoint, "-o", "json", "metrics", "--cluster", cluster, "web",
                       "--minutes", "10", "--period", "10")
    assert as_json.returncode == 0, as_json.stderr
    series = json.loads(as_json.stdout)
    assert series["CPU % (avg)"] and all(abs(v - 100.0) < 1.0 for _, v in series["CPU % (avg)"])

    described = dockyard(server.endpoint, "service", "describe", "--cluster", cluster, "web")
    assert described.returncode == 0, described.stderr
    out = described.stdout
    assert "Auto scaling" in out and "min 1 / max 4" in out, out
    assert "cpu75" in out and "target 75.0 ECSServiceAverageCPUUtilization" in out, out
    assert "Setting desired count to 3." in out, out

    missing = dockyard(server.endpoint, "metrics", "--cluster", cluster, "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr + missing.stdout
