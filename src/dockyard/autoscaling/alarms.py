"""The two CloudWatch alarms a target-tracking policy owns, as PutMetricAlarm params (pure).

Neighbours: `api/autoscaling/policies.py` hands these to `alarms.store.put_alarm`
with `owner` = the policy ARN, so the user cannot change or delete them; the alarm
controller evaluates them and invokes the policy (`controllers/scaling.py`).

As AWS names and shapes them:

    TargetTracking-<resource id>-AlarmHigh-<uuid>  3 of 3 datapoints > target
    TargetTracking-<resource id>-AlarmLow-<uuid>   15 of 15 datapoints < 0.9 x target
                                                   (not created with DisableScaleIn)

The model has no Period: AWS uses 60 s (high-resolution metrics excepted); Dockyard
takes it from the server's `--target-tracking-period` (default 60).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dockyard.autoscaling.errors import ValidationException

HIGH_PERIODS = 3
LOW_PERIODS = 15
LOW_FACTOR = 0.9


def resource_label_parts(label: str) -> tuple[str, str]:
    """ALBRequestCountPerTarget's ResourceLabel -> (LoadBalancer value, TargetGroup value):
    `app/<lb>/<id>/targetgroup/<tg>/<id>` -> (`app/<lb>/<id>`, `targetgroup/<tg>/<id>`)."""
    parts = label.split("/")
    if len(parts) != 6 or parts[0] != "app" or parts[3] != "targetgroup" or not all(parts):
        raise ValidationException(
            f"Invalid ResourceLabel {label!r}: expected "
            "app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/"
            "<target-group-id>."
        )
    return "/".join(parts[:3]), "/".join(parts[3:])


def metric_of(resource_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Namespace, MetricName, Statistic, Dimensions (and Unit) the policy tracks."""
    predefined = config.get("PredefinedMetricSpecification")
    cluster, service = resource_id.split("/")[1:3]
    if predefined is not None:
        kind = predefined["PredefinedMetricType"]
        ecs_dimensions = [
            {"Name": "ClusterName", "Value": cluster},
            {"Name": "ServiceName", "Value": service},
        ]
        if kind in {
            "ECSServiceAverageCPUUtilization",
            "ECSServiceAverageCPUUtilizationHighResolution",
        }:
            return _metric("AWS/ECS", "CPUUtilization", "Average", ecs_dimensions)
        if kind in {
            "ECSServiceAverageMemoryUtilization",
            "ECSServiceAverageMemoryUtilizationHighResolution",
        }:
            return _metric("AWS/ECS", "MemoryUtilization", "Average", ecs_dimensions)
        if kind == "ALBRequestCountPerTarget":
            label = predefined.get("ResourceLabel")
            if not label:
                raise ValidationException(
                    "ResourceLabel is required for the predefined metric type "
                    "ALBRequestCountPerTarget."
                )
            _, group = resource_label_parts(label)
            return _metric(
                "AWS/ApplicationELB",
                "RequestCountPerTarget",
                "Sum",
                [{"Name": "TargetGroup", "Value": group}],
            )
        raise ValidationException(
            f"Unsupported predefined metric type {kind} for ecs:service:DesiredCount."
        )
    custom = config.get("CustomizedMetricSpecification")
    if custom is None:
        raise ValidationException(
            "Either PredefinedMetricSpecification or CustomizedMetricSpecification is required."
        )
    if custom.get("Metrics"):
        raise ValidationException(
            "CustomizedMetricSpecification.Metrics (metric math) is not supported by Dockyard; "
            "give MetricName, Namespace, Dimensions and Statistic."
        )
    for field in ("MetricName", "Namespace", "Statistic"):
        if not custom.get(field):
            raise ValidationException(f"CustomizedMetricSpecification.{field} is required.")
    metric = _metric(
        custom["Namespace"], custom["MetricName"], custom["Statistic"], custom.get("Dimensions", [])
    )
    if custom.get("Unit"):
        metric["Unit"] = custom["Unit"]
    return metric


def _metric(namespace: str, name: str, statistic: str, dimensions: list[Any]) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Statistic": statistic,
        "Dimensions": list(dimensions),
    }


def target_tracking_alarms(
    policy_arn: str, resource_id: str, config: Mapping[str, Any], period: int
) -> list[dict[str, Any]]:
    """PutMetricAlarm params for the high alarm, and the low one unless DisableScaleIn."""
    metric = metric_of(resource_id, config)
    target = float(config["TargetValue"])
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}."
    base = {
        **metric,
        "Period": period,
        "AlarmDescription": description,
        "AlarmActions": [policy_arn],
        "ActionsEnabled": True,
    }
    alarms = [
        {
            **base,
            "AlarmName": f"TargetTracking-{resource_id}-AlarmHigh-{uuid.uuid4()}",
            "EvaluationPeriods": HIGH_PERIODS,
            "DatapointsToAlarm": HIGH_PERIODS,
            "Threshold": target,
            "ComparisonOperator": "GreaterThanThreshold",
        }
    ]
    if not config.get("DisableScaleIn"):
        alarms.append(
            {
                **base,
                "AlarmName": f"TargetTracking-{resource_id}-AlarmLow-{uuid.uuid4()}",
                "EvaluationPeriods": LOW_PERIODS,
                "DatapointsToAlarm": LOW_PERIODS,
                "Threshold": round(target * LOW_FACTOR, 6),
                "ComparisonOperator": "LessThanThreshold",
            }
        )
    return alarms
