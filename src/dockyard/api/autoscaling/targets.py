"""RegisterScalableTarget, DescribeScalableTargets, DeregisterScalableTarget.

A scalable target is one ECS service's desiredCount with its [MinCapacity,
MaxCapacity] and SuspendedState. Registering it again updates it; a new minimum
above the current count (or maximum below it) scales the service at once, as
Application Auto Scaling does. Deregistering deletes its policies (and the alarms
target tracking created) and its scheduled actions.
"""

from __future__ import annotations

from typing import Any

from dockyard.alarms.store import delete_alarms_owned_by
from dockyard.api.autoscaling.paging import paginate
from dockyard.autoscaling.errors import ObjectNotFoundException, ValidationException
from dockyard.autoscaling.records import (
    check_kind,
    find_service,
    find_target,
    policies_of,
    public,
    scheduled_actions_of,
    target_arn,
)
from dockyard.context import ApiContext, Params, Result
from dockyard.controllers.scaling import clamp_to_bounds
from dockyard.store import Kind

SUSPENDED_FIELDS = (
    "DynamicScalingInSuspended",
    "DynamicScalingOutSuspended",
    "ScheduledScalingSuspended",
)


def ecs_role_arn(ctx: ApiContext) -> str:
    return (
        f"arn:aws:iam::{ctx.identity.account_id}:role/aws-service-role/"
        "ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService"
    )


def _check_capacity(minimum: int | None, maximum: int | None) -> None:
    for name, value in (("MinCapacity", minimum), ("MaxCapacity", maximum)):
        if value is not None and value < 0:
            raise ValidationException(f"{name} must be greater than or equal to 0.")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValidationException(
            f"Minimum capacity ({minimum}) cannot be greater than maximum capacity ({maximum})."
        )


def register_scalable_target(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension = params["ScalableDimension"]
    check_kind(namespace, resource_id, dimension)
    changed = False
    with ctx.store.transaction() as tx:
        service = find_service(tx, ctx.identity, resource_id)  # either ARN format
        if service is None or service["status"] != "ACTIVE":
            raise ValidationException(f"ECS service doesn't exist: {resource_id}")
        if service["schedulingStrategy"] != "REPLICA":
            raise ValidationException(
                f"ECS service {resource_id} uses the DAEMON scheduling strategy, which cannot "
                "be scaled."
            )
        target = find_target(tx, namespace, resource_id, dimension)
        now = ctx.now()
        if target is None:
            if "MinCapacity" not in params or "MaxCapacity" not in params:
                raise ValidationException(
                    "MinCapacity and MaxCapacity are required to register a new scalable target."
                )
            _check_capacity(params["MinCapacity"], params["MaxCapacity"])
            target = {
                "ServiceNamespace": namespace,
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "MinCapacity": params["MinCapacity"],
                "MaxCapacity": params["MaxCapacity"],
                "RoleARN": params.get("RoleARN") or ecs_role_arn(ctx),
                "CreationTime": now,
                "SuspendedState": {
                    field: bool((params.get("SuspendedState") or {}).get(field))
                    for field in SUSPENDED_FIELDS
                },
                "ScalableTargetARN": target_arn(ctx.identity),
            }
            tx.insert(
                Kind.SCALABLE_TARGET,
                target["ScalableTargetARN"],
                target,
                service_namespace=namespace,
                resource_id=resource_id,
                dimension=dimension,
            )
        else:
            minimum = params.get("MinCapacity", target["MinCapacity"])
            maximum = params.get("MaxCapacity", target["MaxCapacity"])
            _check_capacity(minimum, maximum)
            target["MinCapacity"], target["MaxCapacity"] = minimum, maximum
            for field, value in (params.get("SuspendedState") or {}).items():
                target["SuspendedState"][field] = bool(value)
            tx.update(Kind.SCALABLE_TARGET, target["ScalableTargetARN"], target)
        tags = params.get("Tags") or {}
        if tags:
            tx.put_tags(
                target["ScalableTargetARN"], [{"key": k, "value": v} for k, v in tags.items()]
            )
        if "MinCapacity" in params or "MaxCapacity" in params:
            bound, value = (
                ("minimum", target["MinCapacity"])
                if int(service["desiredCount"]) < target["MinCapacity"]
                else ("maximum", target["MaxCapacity"])
            )
            changed = clamp_to_bounds(ctx, tx, target, f"{bound} capacity was set to {value}")
        arn = target["ScalableTargetARN"]
    if changed:
        ctx.tasks_changed()
    return {"ScalableTargetARN": arn}


def describe_scalable_targets(ctx: ApiContext, params: Params) -> Result:
    where: dict[str, Any] = {"service_namespace": params["ServiceNamespace"]}
    if params.get("ResourceIds"):
        where["resource_id"] = list(params["ResourceIds"])
    if params.get("ScalableDimension"):
        where["dimension"] = params["ScalableDimension"]
    with ctx.store.read() as tx:
        targets = [public(doc) for doc in tx.find(Kind.SCALABLE_TARGET, where)]
    return paginate(params, targets, lambda t: t["ResourceId"], "ScalableTargets")


def deregister_scalable_target(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension = params["ScalableDimension"]
    check_kind(namespace, resource_id, dimension)
    with ctx.store.transaction() as tx:
        target = find_target(tx, namespace, resource_id, dimension)
        if target is None:
            raise ObjectNotFoundException(
                f"No scalable target found for service namespace: {namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {dimension}"
            )
        now = ctx.now()
        for doc in policies_of(tx, target):
            delete_alarms_owned_by(tx, doc["PolicyARN"], now)
            tx.delete(Kind.SCALING_POLICY, doc["PolicyARN"])
        for doc in scheduled_actions_of(tx, target):
            tx.delete(Kind.SCHEDULED_ACTION, doc["ScheduledActionARN"])
        tx.delete(Kind.SCALABLE_TARGET, target["ScalableTargetARN"])
        tx.delete_all_tags(target["ScalableTargetARN"])
    return {}
