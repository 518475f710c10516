"""Target tracking on ALBRequestCountPerTarget, end to end on real Docker and HAProxy.

One server (high-resolution target tracking: `--target-tracking-period 10`), two Docker
agents, the walkthrough's auth service with ONE task behind a listener, a scalable
target of 1-4 tasks and a policy keeping 50 requests per target per period. A bounded
load of ~300 req/s through the listener must grow the service to 4 tasks without a
single failed request; once the load stops, the service must shrink back to the minimum
after the scale-in cooldown, never stopping the task we protected with
UpdateTaskProtection; DescribeScalingActivities must explain each step.

Every request loop is bounded in count and time; everything is cleaned up on failure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ServerProcess, remove_task_containers, wait_for
from tests.e2e.test_lb_services_docker import (
    WALKTHROUGH,
    Load,
    Stack,
    _stop_haproxy,
    failed,
    summary,
)

pytestmark = pytest.mark.e2e

PERIOD_S = 10
TARGET = 50.0
MAX_TASKS = 4


@pytest.fixture
def scaled(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Stack]:
    assert "dockyard-demo/auth:1" in docker_images
    cluster = f"scale-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(
        tmp_path / "server", extra_args=["--target-tracking-period", str(PERIOD_S)]
    )
    built: Stack | None = None
    try:
        server.start()
        built = Stack(tmp_path, server, cluster)
        built.ecs.create_cluster(clusterName=cluster)
        built.add_agent(1)
        built.add_agent(2)
        built.create_balancer()
        built.create_service(built.register(WALKTHROUGH / "auth-taskdef.json"), desired=1)
        built.wait_settled(1, timeout=60)
        yield built
    finally:
        for agent in built.agents if built is not None else []:
            agent.stop()
        server.stop()
        _stop_haproxy(server.data_dir)
        remove_task_containers(cluster)


def resource_label(stack: Stack) -> str:
    """ALB's ResourceLabel: app/<lb>/<id>/targetgroup/<tg>/<id>."""
    lb = stack.lb_arn.split(":loadbalancer/", 1)[1]
    tg = stack.tg_arn.split(":", 5)[5]
    return f"{lb}/{tg}"


def activities(scaling: Any, resource: str) -> list[dict[str, Any]]:
    answer = scaling.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource)
    return list(answer["ScalingActivities"])


def test_request_count_target_tracking_scales_out_under_load_and_back_in(scaled: Stack) -> None:
    stack = scaled
    scaling = stack.server.client("application-autoscaling")
    cloudwatch = stack.server.client("cloudwatch")
    resource = f"service/{stack.cluster}/{stack.service_name}"
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=MAX_TASKS,
    )
    policy = scaling.put_scaling_policy(
        PolicyName="requests",
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": TARGET,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": resource_label(stack),
            },
            "ScaleOutCooldown": 10,
            "ScaleInCooldown": 20,
        },
    )
    alarm_names = {a["AlarmName"] for a in policy["Alarms"]}
    assert len(alarm_names) == 2
    described = cloudwatch.describe_alarms(AlarmNames=sorted(alarm_names))["MetricAlarms"]
    assert {a["AlarmName"] for a in described} == alarm_names
    assert all(a["AlarmName"].startswith(f"TargetTracking-{resource}-Alarm") for a in described)

    # Scale out: ~300 req/s, bounded, until 4 tasks are RUNNING and healthy behind the LB.
    with Load(
        stack.lb_host, stack.lb_port, rate=300, threads=12, max_requests=60_000, max_seconds=180
    ) as load:
        wait_for(lambda: stack.settled(MAX_TASKS), timeout=170, interval=1, what="4 healthy tasks")
        time.sleep(3)  # traffic keeps flowing over all four
        outcomes = load.stop()
    assert len(outcomes) > 3000, summary(outcomes)
    assert not [o for o in outcomes if failed(o)], summary(outcomes)
    rate = len(outcomes) / (outcomes[-1].at - outcomes[0].at)
    assert rate > 150, f"load ran at {rate:.0f} req/s"
    out = [a for a in activities(scaling, resource) if "to 4" in a["Description"]]
    assert out, activities(scaling, resource)
    assert "AlarmHigh" in out[0]["Cause"] and "requests" in out[0]["Cause"], out[0]
    assert out[0]["StatusCode"] == "Successful"

    # The metric the policy tracks is readable with CloudWatch: every request counted once
    # (the last 10 s of counters reach the store within a sampling interval or two).
    tg = stack.tg_arn.split(":", 5)[5]

    def counted() -> float:
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName="RequestCount",
            Dimensions=[{"Name": "TargetGroup", "Value": tg}],
            StartTime=time.time() - 900,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return float(sum(d["Sum"] for d in stats))

    total = wait_for(
        lambda: counted() >= len(outcomes) * 0.95 and counted(),
        timeout=45,
        interval=2,
        what=f"RequestCount to reach {len(outcomes)}",
    )
    assert total <= len(outcomes) * 1.05, (total, len(outcomes))

    # Protect one task, then let the low alarm and the scale-in cooldown bring it back to 1.
    keep = stack.running()[0]["taskArn"]
    protected = stack.ecs.update_task_protection(
        cluster=stack.cluster, tasks=[keep], protectionEnabled=True, expiresInMinutes=10
    )
    assert protected["protectedTasks"][0]["protectionEnabled"] is True
    wait_for(lambda: stack.settled(1), timeout=300, interval=2, what="scale-in to 1 task")
    assert [t["taskArn"] for t in stack.running()] == [keep]
    steps = activities(scaling, resource)
    scale_in = [a for a in steps if "AlarmLow" in a.get("Cause", "")]
    assert scale_in and scale_in[0]["StatusCode"] == "Successful", steps
    assert stack.service()["desiredCount"] == 1
