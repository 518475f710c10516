"""PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy.

Step scaling policies are fired by the user's alarms (AlarmActions naming the policy
ARN); DescribeScalingPolicies lists those alarms on the policy. A target-tracking
policy creates and owns its two alarms (`autoscaling/alarms.py` shapes them,
`alarms.store.put_alarm(..., owner=policy ARN)` stores them), replaces them when the
policy changes and deletes them with it; CloudWatch refuses to let users change them.
"""

from __future__ import annotations

import itertools
from typing import Any

from dockyard.alarms.store import delete_alarms_owned_by, put_alarm
from dockyard.api.autoscaling import settings
from dockyard.api.autoscaling.paging import paginate
from dockyard.autoscaling.alarms import resource_label_parts, target_tracking_alarms
from dockyard.autoscaling.errors import ObjectNotFoundException, ValidationException
from dockyard.autoscaling.records import check_kind, policy_arn, public, require_target
from dockyard.context import ApiContext, Params, Result
from dockyard.store import Kind, Tx

TYPES = ("StepScaling", "TargetTrackingScaling")


def _check_steps(config: dict[str, Any]) -> None:
    """Step intervals as Application Auto Scaling requires them: no overlap, at most one
    open lower and one open upper bound, MinAdjustmentMagnitude only with percentages."""
    steps = config.get("StepAdjustments") or []
    if not steps:
        raise ValidationException("StepAdjustments must contain at least one step adjustment.")
    kind = config.get("AdjustmentType")
    if kind is None:
        raise ValidationException("AdjustmentType is required for a StepScaling policy.")
    if config.get("MinAdjustmentMagnitude") is not None and kind != "PercentChangeInCapacity":
        raise ValidationException(
            "MinAdjustmentMagnitude is only supported with AdjustmentType PercentChangeInCapacity."
        )
    if sum(s.get("MetricIntervalLowerBound") is None for s in steps) > 1:
        raise ValidationException(
            "There must be at most one step adjustment with a null lower bound."
        )
    if sum(s.get("MetricIntervalUpperBound") is None for s in steps) > 1:
        raise ValidationException(
            "There must be at most one step adjustment with a null upper bound."
        )
    spans = []
    for step in steps:
        lower = step.get("MetricIntervalLowerBound", float("-inf"))
        upper = step.get("MetricIntervalUpperBound", float("inf"))
        lower = float("-inf") if lower is None else lower
        upper = float("inf") if upper is None else upper
        if lower >= upper:
            raise ValidationException(
                "MetricIntervalLowerBound must be less than MetricIntervalUpperBound."
            )
        spans.append((lower, upper))
    spans.sort()
    for (_, upper), (lower, _) in itertools.pairwise(spans):
        if lower < upper:
            raise ValidationException("Step adjustment intervals cannot overlap.")


def _check_label(ctx: ApiContext, tx: Tx, config: dict[str, Any]) -> None:
    predefined = config.get("PredefinedMetricSpecification") or {}
    if predefined.get("PredefinedMetricType") != "ALBRequestCountPerTarget":
        return
    label = predefined.get("ResourceLabel") or ""
    balancer, group = resource_label_parts(label)
    lb = tx.get(
        Kind.LOAD_BALANCER, ctx.identity.arn("elasticloadbalancing", f"loadbalancer/{balancer}")
    )
    tg = tx.get(Kind.TARGET_GROUP, ctx.identity.arn("elasticloadbalancing", group))
    if lb is None:
        raise ValidationException(f"Load balancer {balancer} in ResourceLabel {label} not found.")
    if tg is None:
        raise ValidationException(f"Target group {group} in ResourceLabel {label} not found.")


def _alarm_refs(ctx: ApiContext, tx: Tx, doc: dict[str, Any]) -> list[dict[str, str]]:
    """Target tracking: the alarms it owns; step scaling: alarms whose actions name it."""
    rows = tx.find_rows(Kind.ALARM, {"owner": doc["PolicyARN"]})
    if doc["PolicyType"] == "StepScaling":
        rows = [
            row
            for row in tx.find_rows(Kind.ALARM)
            if doc["PolicyARN"]
            in (
                *row["doc"].get("AlarmActions", []),
                *row["doc"].get("OKActions", []),
                *row["doc"].get("InsufficientDataActions", []),
            )
        ]
    return sorted(
        ({"AlarmName": r["doc"]["AlarmName"], "AlarmARN": r["doc"]["AlarmArn"]} for r in rows),
        key=lambda a: a["AlarmName"],
    )


def put_scaling_policy(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension, name = params["ScalableDimension"], params["PolicyName"]
    check_kind(namespace, resource_id, dimension)
    kind = params.get("PolicyType", "StepScaling")
    if kind not in TYPES:
        raise ValidationException(
            f"Unsupported policy type {kind} for ecs:service:DesiredCount in Dockyard: "
            "use StepScaling or TargetTrackingScaling."
        )
    field = f"{kind}PolicyConfiguration"
    config = params.get(field)
    other = (
        "TargetTrackingScalingPolicyConfiguration"
        if kind == "StepScaling"
        else ("StepScalingPolicyConfiguration")
    )
    if config is None:
        raise ValidationException(f"{field} is required for a policy of type {kind}.")
    if params.get(other) is not None or params.get("PredictiveScalingPolicyConfiguration"):
        raise ValidationException(f"Only {field} can be given for a policy of type {kind}.")
    if kind == "StepScaling":
        _check_steps(config)
    elif config["TargetValue"] <= 0:
        raise ValidationException("TargetValue must be greater than 0.")
    with ctx.store.transaction() as tx:
        target = require_target(tx, namespace, resource_id, dimension)
        now = ctx.now()
        rows = tx.find(
            Kind.SCALING_POLICY,
            {
                "service_namespace": namespace,
                "resource_id": resource_id,
                "dimension": dimension,
                "name": name,
            },
        )
        doc: dict[str, Any] = (
            rows[0]
            if rows
            else {
                "PolicyARN": policy_arn(ctx.identity, resource_id, name),
                "PolicyName": name,
                "ServiceNamespace": namespace,
                "ResourceId": resource_id,
                "ScalableDimension": target["ScalableDimension"],
                "CreationTime": now,
            }
        )
        doc.pop("StepScalingPolicyConfiguration", None)
        doc.pop("TargetTrackingScalingPolicyConfiguration", None)
        doc["PolicyType"] = kind
        doc[field] = config
        delete_alarms_owned_by(tx, doc["PolicyARN"], now)
        alarms: list[dict[str, str]] = []
        if kind == "TargetTrackingScaling":
            _check_label(ctx, tx, config)
            period = settings.TARGET_TRACKING_PERIOD_S
            for alarm in target_tracking_alarms(doc["PolicyARN"], resource_id, config, period):
                stored = put_alarm(tx, ctx.identity, alarm, now, owner=doc["PolicyARN"])
                alarms.append({"AlarmName": stored["AlarmName"], "AlarmARN": stored["AlarmArn"]})
        columns = {
            "service_namespace": namespace,
            "resource_id": resource_id,
            "dimension": dimension,
            "name": name,
        }
        if rows:
            tx.update(Kind.SCALING_POLICY, doc["PolicyARN"], doc, **columns)
        else:
            tx.insert(Kind.SCALING_POLICY, doc["PolicyARN"], doc, **columns)
    result: Result = {"PolicyARN": doc["PolicyARN"]}
    if kind == "TargetTrackingScaling":
        result["Alarms"] = alarms
    return result


def describe_scaling_policies(ctx: ApiContext, params: Params) -> Result:
    where: dict[str, Any] = {"service_namespace": params["ServiceNamespace"]}
    for param, column in (("ResourceId", "resource_id"), ("ScalableDimension", "dimension")):
        if params.get(param):
            where[column] = params[param]
    if params.get("PolicyNames"):
        where["name"] = list(params["PolicyNames"])
    with ctx.store.read() as tx:
        policies = []
        for doc in tx.find(Kind.SCALING_POLICY, where):
            out = public(doc)
            out["Alarms"] = _alarm_refs(ctx, tx, doc)
            policies.append(out)
    return paginate(
        params, policies, lambda p: f"{p['ResourceId']}|{p['PolicyName']}", "ScalingPolicies"
    )


def delete_scaling_policy(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension, name = params["ScalableDimension"], params["PolicyName"]
    check_kind(namespace, resource_id, dimension)
    with ctx.store.transaction() as tx:
        rows = tx.find(
            Kind.SCALING_POLICY,
            {
                "service_namespace": namespace,
                "resource_id": resource_id,
                "dimension": dimension,
                "name": name,
            },
        )
        if not rows:
            raise ObjectNotFoundException(
                f"No scaling policy found for service namespace: {namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {dimension}, policy name: {name}"
            )
        delete_alarms_owned_by(tx, rows[0]["PolicyARN"], ctx.now())
        tx.delete(Kind.SCALING_POLICY, rows[0]["PolicyARN"])
    return {}
