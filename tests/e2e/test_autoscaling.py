"""Application Auto Scaling end to end: a real server, two fake-runtime agents (no Docker),
boto3 and the aws CLI.

Alarms fire through CloudWatch's SetAlarmState (the ALARMS part's API), so each step is
deterministic; the server runs with `--target-tracking-period 10`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import AgentProcess, ServerProcess, aws_cli, wait_for

CLUSTER = "scale01"
NS, DIM = "ecs", "ecs:service:DesiredCount"


@dataclass
class Fleet:
    server: ServerProcess
    ecs: Any
    aas: Any
    cloudwatch: Any


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("autoscaling")
    server = ServerProcess(tmp / "data", extra_args=["--target-tracking-period", "10"])
    server.start()
    agents: list[AgentProcess] = []
    try:
        ecs = server.client()
        ecs.create_cluster(clusterName=CLUSTER)
        for index in (1, 2):
            agent = AgentProcess(
                server.endpoint,
                tmp / f"agent{index}",
                f"127.0.5.{index}",
                cluster=CLUSTER,
                extra_args=["--fake-runtime"],
            )
            agent.start()
            agents.append(agent)
        ecs.register_task_definition(
            family="web",
            containerDefinitions=[
                {"name": "web", "image": "dockyard-demo/web:1", "memory": 64, "cpu": 64}
            ],
        )
        yield Fleet(
            server, ecs, server.client("application-autoscaling"), server.client("cloudwatch")
        )
    finally:
        for agent in agents:
            agent.stop()
        server.stop()


def new_service(fleet: Fleet, desired: int = 1) -> str:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    fleet.ecs.create_service(
        cluster=CLUSTER, serviceName=name, taskDefinition="web", desiredCount=desired
    )
    return name


def service(fleet: Fleet, name: str) -> dict[str, Any]:
    found: dict[str, Any] = fleet.ecs.describe_services(cluster=CLUSTER, services=[name])[
        "services"
    ][0]
    return found


def running(fleet: Fleet, name: str) -> list[str]:
    arns: list[str] = fleet.ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
    return arns


def register(fleet: Fleet, name: str, low: int, high: int) -> str:
    answer = fleet.aas.register_scalable_target(
        ServiceNamespace=NS,
        ResourceId=f"service/{CLUSTER}/{name}",
        ScalableDimension=DIM,
        MinCapacity=low,
        MaxCapacity=high,
    )
    return str(answer["ScalableTargetARN"])


def activities(fleet: Fleet, name: str, **extra: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = fleet.aas.describe_scaling_activities(
        ServiceNamespace=NS, ResourceId=f"service/{CLUSTER}/{name}", **extra
    )["ScalingActivities"]
    return found


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_register_describe_errors_and_min_raises_desired(fleet: Fleet) -> None:
    name = new_service(fleet, desired=1)
    resource = f"service/{CLUSTER}/{name}"
    arn = register(fleet, name, 1, 5)
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/")
    targets = fleet.aas.describe_scalable_targets(ServiceNamespace=NS, ResourceIds=[resource])
    (target,) = targets["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"], target["ScalableTargetARN"]) == (
        1,
        5,
        arn,
    )
    assert target["SuspendedState"] == {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }
    with pytest.raises(ClientError) as missing:
        register(fleet, "no-such-service", 1, 2)
    assert code(missing) == "ValidationException"
    with pytest.raises(ClientError) as inverted:
        register(fleet, name, 4, 2)
    assert code(inverted) == "ValidationException"
    with pytest.raises(ClientError) as first_without_bounds:
        fleet.aas.register_scalable_target(
            ServiceNamespace=NS,
            ResourceId=f"service/{CLUSTER}/{new_service(fleet)}",
            ScalableDimension=DIM,
        )
    assert code(first_without_bounds) == "ValidationException"
    with pytest.raises(ClientError) as no_target:
        fleet.aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace=NS,
            ResourceId=f"service/{CLUSTER}/unregistered",
            ScalableDimension=DIM,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        )
    assert code(no_target) == "ObjectNotFoundException"

    # A new minimum above the desired count scales out at once (update: no Max needed).
    fleet.aas.register_scalable_target(
        ServiceNamespace=NS, ResourceId=resource, ScalableDimension=DIM, MinCapacity=3
    )
    assert service(fleet, name)["desiredCount"] == 3
    (activity,) = activities(fleet, name)
    assert activity["Description"] == "Setting desired count to 3."
    assert activity["Cause"] == "minimum capacity was set to 3"
    assert activity["StatusCode"] == "Successful"
    wait_for(lambda: len(running(fleet, name)) == 3, what="3 tasks")


def test_step_policy_fired_by_alarm_changes_desired_by_the_step(fleet: Fleet) -> None:
    name = new_service(fleet, desired=1)
    register(fleet, name, 1, 4)
    policy = fleet.aas.put_scaling_policy(
        PolicyName="out-by-2",
        ServiceNamespace=NS,
        ResourceId=f"service/{CLUSTER}/{name}",
        ScalableDimension=DIM,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}],
            "Cooldown": 0,
            "MetricAggregationType": "Average",
        },
    )
    policy_arn = policy["PolicyARN"]
    assert policy_arn.startswith("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:")
    assert policy_arn.endswith(f":resource/ecs/service/{CLUSTER}/{name}:policyName/out-by-2")
    alarm = f"queue-depth-{name}"
    fleet.cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="Custom/Queue",
        MetricName="Depth",
        Dimensions=[{"Name": "Service", "Value": name}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=100.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[policy_arn],
    )
    (described,) = fleet.aas.describe_scaling_policies(
        ServiceNamespace=NS, ResourceId=f"service/{CLUSTER}/{name}"
    )["ScalingPolicies"]
    assert [a["AlarmName"] for a in described["Alarms"]] == [alarm]

    fleet.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    wait_for(lambda: service(fleet, name)["desiredCount"] == 3, what="desiredCount 1 -> 3")
    wait_for(lambda: len(running(fleet, name)) == 3, what="3 tasks")
    activity = activities(fleet, name)[0]
    assert activity["Description"] == "Setting desired count to 3."
    assert activity["Cause"] == (f"monitor alarm {alarm} in state ALARM triggered policy out-by-2")
    assert activity["StatusMessage"] == (
        "Successfully set desired count to 3. Change successfully fulfilled by ecs."
    )
    events = [e["message"] for e in service(fleet, name)["events"]]
    assert any("Application Auto Scaling set the desired count from 1 to 3" in e for e in events)

    # Again: +2 would be 5, above max 4 -> 4; then a third time: already at max.
    fleet.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test")
    fleet.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    wait_for(lambda: service(fleet, name)["desiredCount"] == 4, what="clamped to max 4")
    fleet.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test")
    fleet.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    not_scaled = wait_for(
        lambda: [
            a
            for a in activities(fleet, name, IncludeNotScaledActivities=True)
            if a.get("NotScaledReasons")
        ],
        what="a not-scaled activity",
    )
    assert not_scaled[0]["NotScaledReasons"] == [
        {"Code": "AlreadyAtMaxCapacity", "MaxCapacity": 4, "CurrentCapacity": 4}
    ]
    assert all("NotScaledReasons" not in a for a in activities(fleet, name))

    fleet.aas.delete_scaling_policy(
        PolicyName="out-by-2",
        ServiceNamespace=NS,
        ResourceId=f"service/{CLUSTER}/{name}",
        ScalableDimension=DIM,
    )
    with pytest.raises(ClientError) as gone:
        fleet.aas.delete_scaling_policy(
            PolicyName="out-by-2",
            ServiceNamespace=NS,
            ResourceId=f"service/{CLUSTER}/{name}",
            ScalableDimension=DIM,
        )
    assert code(gone) == "ObjectNotFoundException"


def test_target_tracking_owns_two_alarms_and_scales(fleet: Fleet) -> None:
    name = new_service(fleet, desired=2)
    resource = f"service/{CLUSTER}/{name}"
    register(fleet, name, 1, 10)
    answer = fleet.aas.put_scaling_policy(
        PolicyName="cpu50",
        ServiceNamespace=NS,
        ResourceId=resource,
        ScalableDimension=DIM,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 0,
        },
    )
    names = sorted(a["AlarmName"] for a in answer["Alarms"])
    assert len(names) == 2
    assert names[0].startswith(f"TargetTracking-{resource}-AlarmHigh-")
    assert names[1].startswith(f"TargetTracking-{resource}-AlarmLow-")
    alarms = {
        a["AlarmName"]: a
        for a in fleet.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    }
    high, low = alarms[names[0]], alarms[names[1]]
    assert (high["Namespace"], high["MetricName"], high["Statistic"]) == (
        "AWS/ECS",
        "CPUUtilization",
        "Average",
    )
    assert sorted((d["Name"], d["Value"]) for d in high["Dimensions"]) == [
        ("ClusterName", CLUSTER),
        ("ServiceName", name),
    ]
    assert (high["Period"], high["EvaluationPeriods"], high["DatapointsToAlarm"]) == (10, 3, 3)
    assert (high["Threshold"], high["ComparisonOperator"]) == (50.0, "GreaterThanThreshold")
    assert (low["EvaluationPeriods"], low["DatapointsToAlarm"]) == (15, 15)
    assert (low["Threshold"], low["ComparisonOperator"]) == (45.0, "LessThanThreshold")
    assert high["AlarmActions"] == [answer["PolicyARN"]]
    with pytest.raises(ClientError):
        fleet.cloudwatch.delete_alarms(AlarmNames=[names[0]])

    # The policy sees no datapoint through SetAlarmState: no data, nothing changes.
    fleet.cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="t")
    (policy,) = fleet.aas.describe_scaling_policies(
        ServiceNamespace=NS, ResourceId=resource, PolicyNames=["cpu50"]
    )["ScalingPolicies"]
    assert sorted(a["AlarmName"] for a in policy["Alarms"]) == names

    # Deregistering the target deletes its policies and their alarms.
    fleet.aas.deregister_scalable_target(
        ServiceNamespace=NS, ResourceId=resource, ScalableDimension=DIM
    )
    assert fleet.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    assert (
        fleet.aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=resource)[
            "ScalingPolicies"
        ]
        == []
    )


def test_protected_task_survives_scale_in(fleet: Fleet) -> None:
    name = new_service(fleet, desired=3)
    tasks = wait_for(lambda: (t := running(fleet, name)) and len(t) == 3 and t, what="3 tasks")
    keep = tasks[1]
    answer = fleet.ecs.update_task_protection(
        cluster=CLUSTER, tasks=[keep, "0" * 32], protectionEnabled=True, expiresInMinutes=5
    )
    (protected,) = answer["protectedTasks"]
    assert protected["taskArn"] == keep and protected["protectionEnabled"] is True
    assert answer["failures"][0]["reason"] == "MISSING"
    got = fleet.ecs.get_task_protection(cluster=CLUSTER, tasks=[keep])["protectedTasks"]
    assert got[0]["protectionEnabled"] is True and "expirationDate" in got[0]
    described = fleet.ecs.describe_tasks(cluster=CLUSTER, tasks=[keep])["tasks"][0]
    assert not any(key.startswith("_") for key in described)
    with pytest.raises(ClientError) as too_long:
        fleet.ecs.update_task_protection(
            cluster=CLUSTER, tasks=[keep], protectionEnabled=True, expiresInMinutes=2881
        )
    assert code(too_long) == "InvalidParameterException"

    fleet.ecs.update_service(cluster=CLUSTER, service=name, desiredCount=1)
    wait_for(lambda: running(fleet, name) == [keep], what="only the protected task left")

    # Scale to 0: the protected task stays until its protection is removed.
    fleet.ecs.update_service(cluster=CLUSTER, service=name, desiredCount=0)
    fleet.ecs.update_task_protection(cluster=CLUSTER, tasks=[keep], protectionEnabled=False)
    wait_for(lambda: running(fleet, name) == [], what="the unprotected task stopped")


def test_scheduled_action_fires_and_cli(fleet: Fleet) -> None:
    name = new_service(fleet, desired=1)
    resource = f"service/{CLUSTER}/{name}"
    register(fleet, name, 1, 3)
    with pytest.raises(ClientError) as bad:
        fleet.aas.put_scheduled_action(
            ServiceNamespace=NS,
            ScheduledActionName="bad",
            ResourceId=resource,
            ScalableDimension=DIM,
            Schedule="cron(0 10 * * * *)",
        )
    assert code(bad) == "ValidationException"
    endpoint = fleet.server.endpoint
    result = aws_cli(
        endpoint,
        "application-autoscaling",
        "put-scheduled-action",
        "--service-namespace",
        NS,
        "--resource-id",
        resource,
        "--scalable-dimension",
        DIM,
        "--scheduled-action-name",
        "every-minute",
        "--schedule",
        "rate(1 minute)",
        "--timezone",
        "Europe/Paris",
        "--scalable-target-action",
        "MinCapacity=2,MaxCapacity=5",
    )
    assert result.returncode == 0, result.stderr
    described = json.loads(
        aws_cli(
            endpoint,
            "application-autoscaling",
            "describe-scheduled-actions",
            "--service-namespace",
            NS,
            "--resource-id",
            resource,
        ).stdout
    )["ScheduledActions"]
    assert [(a["ScheduledActionName"], a["Schedule"], a["Timezone"]) for a in described] == [
        ("every-minute", "rate(1 minute)", "Europe/Paris")
    ]
    assert ":scheduledAction:" in described[0]["ScheduledActionARN"]
    # Make it due now: an at() expression in the near past of "now + 1 s" cannot be set
    # from a client clock reliably, so the rate action above is replaced by an at(...)
    # two seconds ahead (UTC).
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    fleet.aas.put_scheduled_action(
        ServiceNamespace=NS,
        ScheduledActionName="every-minute",
        ResourceId=resource,
        ScalableDimension=DIM,
        Schedule=f"at({soon})",
        Timezone="UTC",
    )
    wait_for(lambda: service(fleet, name)["desiredCount"] == 2, timeout=30, what="min 2 applied")
    target = fleet.aas.describe_scalable_targets(ServiceNamespace=NS, ResourceIds=[resource])[
        "ScalableTargets"
    ][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    causes = [a["Cause"] for a in activities(fleet, name)]
    assert "scheduled action name every-minute was triggered" in causes
    assert "minimum capacity was set to 2" in causes
    cli = json.loads(
        aws_cli(
            endpoint,
            "application-autoscaling",
            "describe-scaling-activities",
            "--service-namespace",
            NS,
            "--resource-id",
            resource,
        ).stdout
    )
    assert cli["ScalingActivities"][0]["Description"] == "Setting desired count to 2."
    aws_cli(
        endpoint,
        "application-autoscaling",
        "delete-scheduled-action",
        "--service-namespace",
        NS,
        "--resource-id",
        resource,
        "--scalable-dimension",
        DIM,
        "--scheduled-action-name",
        "every-minute",
    )
    assert fleet.aas.describe_scheduled_actions(ServiceNamespace=NS)["ScheduledActions"] == []


def test_step_policy_fired_by_a_custom_metric_takes_the_step_of_the_breach(fleet: Fleet) -> None:
    """PutMetricData -> PutMetricAlarm (Period 10, 1 of 1) -> step policy: the metric's
    breach of the threshold picks the step (180 - 100 = 80 falls in [50, +inf): +3)."""
    name = new_service(fleet, desired=1)
    register(fleet, name, 1, 6)
    policy_arn = fleet.aas.put_scaling_policy(
        PolicyName="queue-steps",
        ServiceNamespace=NS,
        ResourceId=f"service/{CLUSTER}/{name}",
        ScalableDimension=DIM,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 50, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 50, "ScalingAdjustment": 3},
            ],
            "Cooldown": 300,
        },
    )["PolicyARN"]
    alarm = f"backlog-{name}"
    dims = [{"Name": "Queue", "Value": name}]
    fleet.cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="Custom/Jobs", MetricName="Backlog", Dimensions=dims,
        Statistic="Maximum", Period=10, EvaluationPeriods=1, Threshold=100.0,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=[policy_arn],
    )

    def put(value: float) -> None:
        fleet.cloudwatch.put_metric_data(Namespace="Custom/Jobs", MetricData=[
            {"MetricName": "Backlog", "Dimensions": dims, "Value": value,
             "StorageResolution": 1}])

    put(20.0)
    assert service(fleet, name)["desiredCount"] == 1
    for _ in range(8):  # a datapoint every 5 s (bounded) while the alarm is judged
        put(180.0)
        if service(fleet, name)["desiredCount"] != 1:
            break
        time.sleep(5)
    wait_for(lambda: service(fleet, name)["desiredCount"] == 4, timeout=40,
             what="desiredCount 1 -> 4 (+3 for a breach of 80)")
    state = fleet.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert state["StateValue"] == "ALARM", state
    assert "180" in state["StateReason"], state["StateReason"]
    activity = activities(fleet, name)[0]
    assert activity["Description"] == "Setting desired count to 4."
    assert activity["Cause"] == f"monitor alarm {alarm} in state ALARM triggered policy queue-steps"
    # Cooldown 300 s: the alarm stays in ALARM and is re-invoked each period, but nothing
    # more happens (4 stays 4).
    put(180.0)
    history = fleet.cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")
    assert any("to ALARM" in h["HistorySummary"] for h in history["AlarmHistoryItems"]), history
    assert service(fleet, name)["desiredCount"] == 4
