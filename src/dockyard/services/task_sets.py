"""Task sets of a service with the EXTERNAL deployment controller: the entries of the
service document's `taskSets` list, written by the API and the service controller.

Neighbours: `api/ecs/task_sets.py` (Create/Describe/Update/DeleteTaskSet,
UpdateServicePrimaryTaskSet) creates and changes the entries; the service controller
(`controllers/services/task_sets.py` decides, `loop.py` applies) keeps each entry's
computedDesiredCount tasks running and removes a DRAINING entry once its tasks stopped;
`api/ecs/services.py` presents them in DescribeServices.

A task set is a deployment the controller neither creates nor retires: it has its own
id (`ecs-svc/<19 digits>`, its tasks' startedBy), task definition, load balancers,
network configuration and launch type or capacity provider strategy, and a scale (a
percentage of the service's desiredCount):

    computedDesiredCount = ceil(desiredCount * scale.value / 100)     (0 while DRAINING)

e.g. desiredCount 4 at 50 % -> 2 tasks, desiredCount 3 at 50 % -> ceil(1.5) = 2.
Only the stored fields live in the document; counts are derived when presented.
"""

from __future__ import annotations

import math
from typing import Any

from dockyard.services.documents import new_deployment_id

EXTERNAL = "EXTERNAL"
STATUSES = ("PRIMARY", "ACTIVE", "DRAINING")
STEADY, STABILIZING = "STEADY_STATE", "STABILIZING"
INTERNAL_FIELDS = frozenset({"clientToken"})  # stored for CreateTaskSet's idempotency, never shown
# The fields a task set sets for its tasks: DescribeServices shows the primary's.
PRIMARY_FIELDS = (
    "taskDefinition",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
)


def is_external(service: dict[str, Any]) -> bool:
    return bool((service.get("deploymentController") or {}).get("type") == EXTERNAL)


def task_sets(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The service document's task sets (the list itself, to change in place)."""
    found: list[dict[str, Any]] = service.setdefault("taskSets", [])
    return found


def computed_desired_count(service: dict[str, Any], task_set: dict[str, Any]) -> int:
    """ceil(desiredCount * scale%) as ECS computes it; 0 while the set or service drains."""
    if task_set["status"] == "DRAINING" or service["status"] != "ACTIVE":
        return 0
    percent = float(task_set["scale"]["value"])
    # round() first: 4 * 57.5 / 100 is 2.3000000000000003 in floating point
    return max(0, math.ceil(round(int(service["desiredCount"]) * percent / 100, 9)))


def find(service: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """A task set by id (`ecs-svc/...`) or by ARN."""
    for task_set in task_sets(service):
        if ref in (task_set["id"], task_set["taskSetArn"]):
            return task_set
    return None


def new_task_set(
    service: dict[str, Any], arn_of: Any, fields: dict[str, Any], now: float
) -> dict[str, Any]:
    """An ACTIVE task set (PRIMARY if it is the service's first), STABILIZING, no tasks yet.

    `arn_of(resource)` builds an ECS ARN; `fields` are the validated CreateTaskSet members
    (taskDefinition ARN, scale, launchType or capacityProviderStrategy, ...)."""
    existing = {t["id"] for t in service.get("taskSets", [])}
    task_set_id = new_deployment_id()
    while task_set_id in existing:
        task_set_id = new_deployment_id()
    cluster_name = service["clusterArn"].rsplit("/", 1)[-1]
    first = not any(t["status"] == "PRIMARY" for t in service.get("taskSets", []))
    return {
        "id": task_set_id,
        "taskSetArn": arn_of(f"task-set/{cluster_name}/{service['serviceName']}/{task_set_id}"),
        "status": "PRIMARY" if first else "ACTIVE",
        **fields,
        "createdAt": now,
        "updatedAt": now,
        "stabilityStatus": STABILIZING,
        "stabilityStatusAt": now,
    }


def make_primary(service: dict[str, Any], task_set: dict[str, Any], now: float) -> None:
    """`task_set` becomes PRIMARY; the previous primary ACTIVE. The service's task
    definition follows the primary (as ECS's DescribeServices shows it)."""
    for other in task_sets(service):
        if other["status"] == "PRIMARY" and other is not task_set:
            other["status"] = "ACTIVE"
            other["updatedAt"] = now
    task_set["status"] = "PRIMARY"
    task_set["updatedAt"] = now
    service["taskDefinition"] = task_set["taskDefinition"]


def public(
    service: dict[str, Any], task_set: dict[str, Any], counts: dict[str, int], *, tags: bool = False
) -> dict[str, Any]:
    """The TaskSet shape: stored fields (without the internal ones, and without `tags`
    unless asked for) plus the derived ones."""
    out = {k: v for k, v in task_set.items() if k not in INTERNAL_FIELDS}
    if not tags:
        out.pop("tags", None)
    out["serviceArn"] = service["serviceArn"]
    out["clusterArn"] = service["clusterArn"]
    out["computedDesiredCount"] = computed_desired_count(service, task_set)
    out["runningCount"] = counts.get("running", 0)
    out["pendingCount"] = counts.get("pending", 0)
    return out


def primary_fields(service: dict[str, Any]) -> dict[str, Any]:
    """What DescribeServices shows of the primary task set on the service itself."""
    primary = next((t for t in service.get("taskSets", []) if t["status"] == "PRIMARY"), None)
    if primary is None:
        return {}
    return {k: primary[k] for k in PRIMARY_FIELDS if k in primary}
