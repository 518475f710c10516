"""The auto scaling part of `dockyard service describe`: scalable target, policies and
the latest scaling activities, read from Application Auto Scaling.

Kept apart from cli/services.py so that module stays about services; a service with
no scalable target shows nothing extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from dockyard.cli.output import details, table

ACTIVITIES_SHOWN = 5


def resource_id(service: Mapping[str, Any]) -> str:
    """Application Auto Scaling's ResourceId of an ECS service: service/<cluster>/<service>."""
    cluster = str(service["clusterArn"]).rsplit("/", 1)[-1]
    return f"service/{cluster}/{service['serviceName']}"


def read(api: Any, service: Mapping[str, Any]) -> dict[str, Any] | None:
    """Target, policies and latest activities of one service; None when it does not scale."""
    resource = resource_id(service)
    try:
        targets = api.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])
    except ClientError:
        return None
    if not targets.get("ScalableTargets"):
        return None
    policies = api.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)
    activities = api.describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=resource, MaxResults=ACTIVITIES_SHOWN
    )
    return {
        "scalableTarget": targets["ScalableTargets"][0],
        "scalingPolicies": policies.get("ScalingPolicies", []),
        "scalingActivities": activities.get("ScalingActivities", [])[:ACTIVITIES_SHOWN],
    }


def policy_text(policy: Mapping[str, Any]) -> str:
    """`target 50 ALBRequestCountPerTarget` or `steps +1 [0,10) +2 [10,-)`."""
    tracking = policy.get("TargetTrackingScalingPolicyConfiguration")
    if tracking:
        spec = tracking.get("PredefinedMetricSpecification", {})
        custom = tracking.get("CustomizedMetricSpecification", {})
        metric = spec.get("PredefinedMetricType") or custom.get("MetricName", "custom metric")
        extra = " (no scale-in)" if tracking.get("DisableScaleIn") else ""
        return f"target {tracking.get('TargetValue')} {metric}{extra}"
    step = policy.get("StepScalingPolicyConfiguration", {})
    parts = []
    for adjustment in step.get("StepAdjustments", []):
        low = adjustment.get("MetricIntervalLowerBound", "-")
        high = adjustment.get("MetricIntervalUpperBound", "-")
        parts.append(f"{adjustment.get('ScalingAdjustment'):+} [{low},{high})")
    kind = step.get("AdjustmentType", "")
    return f"{kind} " + " ".join(parts)


def views(scaling: Mapping[str, Any]) -> Sequence[Any]:
    """Rich renderables for `service describe`."""
    target = scaling["scalableTarget"]
    suspended = [name for name, on in (target.get("SuspendedState") or {}).items() if on]
    out: list[Any] = [
        details(
            [
                ("Capacity", f"min {target.get('MinCapacity')} / max {target.get('MaxCapacity')}"),
                ("Suspended", ", ".join(suspended) or None),
            ],
            title="Auto scaling",
        )
    ]
    policies = scaling["scalingPolicies"]
    if policies:
        rows = [
            [
                p.get("PolicyName"),
                p.get("PolicyType"),
                policy_text(p),
                ", ".join(a.get("AlarmName", "") for a in p.get("Alarms", [])),
            ]
            for p in policies
        ]
        out.append(table(["Policy", "Type", "Rule", "Alarms"], rows, title="Scaling policies"))
    activities = scaling["scalingActivities"]
    if activities:
        rows = [
            [a.get("StartTime"), a.get("StatusCode"), a.get("Description"), a.get("Cause")]
            for a in activities
        ]
        out.append(
            table(["Started", "Status", "Description", "Cause"], rows, title="Latest activities")
        )
    return out
