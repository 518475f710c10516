"""The pure parts of `dockyard metrics` and the auto scaling view of `service describe`."""

from __future__ import annotations

from dockyard.cli.metrics import arn_resource, service_series
from dockyard.cli.scaling import policy_text, resource_id

SERVICE = {
    "serviceName": "web",
    "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/stage01",
}
GROUP = {
    "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/73e2d6bc24d8a067",
    "TargetGroupName": "web",
    "LoadBalancerArns": [
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/front/50dc6c495c0c9188"
    ],
}


def test_dimension_values_are_elb_resource_forms() -> None:
    assert arn_resource(GROUP["TargetGroupArn"]) == "targetgroup/web/73e2d6bc24d8a067"
    assert arn_resource(GROUP["LoadBalancerArns"][0]) == "app/front/50dc6c495c0c9188"


def test_series_cover_ecs_and_each_target_group() -> None:
    series = service_series("stage01", SERVICE, [GROUP])
    by_id = {s.id: s for s in series}
    assert set(by_id) == {"cpu", "cpumax", "mem", "req0"}
    assert by_id["cpu"].dimensions == (("ClusterName", "stage01"), ("ServiceName", "web"))
    assert by_id["req0"].namespace == "AWS/ApplicationELB"
    assert dict(by_id["req0"].dimensions) == {
        "LoadBalancer": "app/front/50dc6c495c0c9188",
        "TargetGroup": "targetgroup/web/73e2d6bc24d8a067",
    }
    query = by_id["req0"].query(60)
    assert query["MetricStat"]["Stat"] == "Sum"
    assert query["MetricStat"]["Period"] == 60


def test_service_without_load_balancer_has_no_request_series() -> None:
    assert [s.id for s in service_series("stage01", SERVICE, [])] == ["cpu", "cpumax", "mem"]


def test_policy_texts() -> None:
    assert resource_id(SERVICE) == "service/stage01/web"
    tracking = {
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget"},
            "DisableScaleIn": True,
        }
    }
    assert policy_text(tracking) == "target 50.0 ALBRequestCountPerTarget (no scale-in)"
    step = {
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
            ],
        }
    }
    assert policy_text(step) == "ChangeInCapacity +1 [0.0,10.0) +3 [10.0,-)"
