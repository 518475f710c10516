"""Application Auto Scaling documents on a control-store transaction.

Neighbours: the API handlers (`api/autoscaling/`) and the scaling controller
(`controllers/scaling.py`) share these: ARNs, the supported resource kind, finding a
scalable target, and writing scaling activities. The policy math itself is pure
(`policy.py`, `schedule.py`); this module only reads and writes documents.

Internal bookkeeping (cooldown state, last scheduled run) lives in document keys that
start with "_" and `public()` strips them before any answer.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from dockyard.arns import Identity, scoped_arns
from dockyard.autoscaling.errors import ObjectNotFoundException, ValidationException
from dockyard.store import Kind, Tx

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
MAX_ACTIVITIES = 1000  # per scalable target; older ones are forgotten


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def check_kind(namespace: str, resource_id: str, dimension: str) -> tuple[str, str]:
    """(cluster, service) of an `ecs` / `service/<cluster>/<service>` / DesiredCount target."""
    if namespace != NAMESPACE:
        raise ValidationException(
            f"Unsupported service namespace {namespace}: Dockyard scales ECS services "
            "(ServiceNamespace ecs) only."
        )
    if dimension != DIMENSION:
        raise ValidationException(
            f"Unsupported scalable dimension {dimension} for service namespace ecs: "
            "use ecs:service:DesiredCount."
        )
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        raise ValidationException(
            f"Unsupported resource ID {resource_id}: expected service/<cluster>/<service>."
        )
    return parts[1], parts[2]


def find_service(tx: Tx, identity: Identity, resource_id: str) -> dict[str, Any] | None:
    """The ECS service of a resource id (service/<cluster>/<name>, whatever the service's
    ARN format): its long ARN, else the short service/<name> when that one is in the
    cluster (serviceLongArnFormat disabled when it was created); live first."""
    _, cluster, name = resource_id.split("/")
    found = None
    for arn in scoped_arns(identity, "service", cluster, name):
        doc = tx.get(Kind.SERVICE, arn)
        if doc is None or doc["clusterArn"] != identity.ecs(f"cluster/{cluster}"):
            continue
        if doc["status"] != "INACTIVE":
            return doc
        found = found or doc
    return found


def target_arn(identity: Identity) -> str:
    return identity.arn("application-autoscaling", f"scalable-target/{secrets.token_hex(18)}")


def policy_arn(identity: Identity, resource_id: str, name: str) -> str:
    return identity.arn(
        "autoscaling",
        f"scalingPolicy:{uuid.uuid4()}:resource/{NAMESPACE}/{resource_id}:policyName/{name}",
    )


def scheduled_action_arn(identity: Identity, resource_id: str, name: str) -> str:
    return identity.arn(
        "autoscaling",
        f"scheduledAction:{uuid.uuid4()}:resource/{NAMESPACE}/{resource_id}"
        f":scheduledActionName/{name}",
    )


def _where(namespace: str, resource_id: str, dimension: str) -> dict[str, Any]:
    return {"service_namespace": namespace, "resource_id": resource_id, "dimension": dimension}


def find_target(tx: Tx, namespace: str, resource_id: str, dimension: str) -> dict[str, Any] | None:
    rows = tx.find(Kind.SCALABLE_TARGET, _where(namespace, resource_id, dimension))
    return rows[0] if rows else None


def require_target(tx: Tx, namespace: str, resource_id: str, dimension: str) -> dict[str, Any]:
    target = find_target(tx, namespace, resource_id, dimension)
    if target is None:
        raise ObjectNotFoundException(
            f"No scalable target registered for service namespace: {namespace}, resource ID: "
            f"{resource_id}, scalable dimension: {dimension}"
        )
    return target


def policies_of(tx: Tx, target: dict[str, Any]) -> list[dict[str, Any]]:
    return tx.find(
        Kind.SCALING_POLICY,
        _where(target["ServiceNamespace"], target["ResourceId"], target["ScalableDimension"]),
        order_by=("name",),
    )


def scheduled_actions_of(tx: Tx, target: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        doc
        for doc in tx.find(
            Kind.SCHEDULED_ACTION,
            {"service_namespace": target["ServiceNamespace"], "resource_id": target["ResourceId"]},
        )
        if doc["ScalableDimension"] == target["ScalableDimension"]
    ]


def record_activity(
    tx: Tx,
    target: dict[str, Any],
    *,
    description: str,
    cause: str,
    now: float,
    status: str = "Successful",
    message: str | None = None,
    not_scaled: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write one ScalingActivity, shaped as DescribeScalingActivities returns it."""
    activity: dict[str, Any] = {
        "ActivityId": str(uuid.uuid4()),
        "ServiceNamespace": target["ServiceNamespace"],
        "ResourceId": target["ResourceId"],
        "ScalableDimension": target["ScalableDimension"],
        "Description": description,
        "Cause": cause,
        "StartTime": now,
        "EndTime": now,
        "StatusCode": status,
    }
    if message:
        activity["StatusMessage"] = message
    if not_scaled:
        activity["NotScaledReasons"] = not_scaled
    tx.insert(
        Kind.SCALING_ACTIVITY,
        activity["ActivityId"],
        activity,
        service_namespace=target["ServiceNamespace"],
        resource_id=target["ResourceId"],
        start_time=now,
    )
    return activity
