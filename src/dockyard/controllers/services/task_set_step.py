"""The service step's EXTERNAL branch: task sets in, a Plan out, target groups per set.

Neighbours: `loop.py` calls these where a service with the EXTERNAL deployment
controller differs from an ECS one; the decision is `task_set_plan.plan_task_sets`
(pure), the documents are `services/task_sets.py`.

    balancing(service)       the service as the target code reads it: the load
                             balancers of all its task sets (read targets, runner index)
    external_task_views      task views with health per task set (a set without load
                             balancers is not waiting for target health)
    plan_and_apply           views -> plan_task_sets -> stability / removal written
                             into the document; returns the Plan the loop applies
    sync_external            register each task in its own task set's target groups
"""

from __future__ import annotations

from typing import Any

from dockyard.controllers.services.model import InstanceView, Plan, ServiceView, TaskView
from dockyard.controllers.services.reads import task_views
from dockyard.controllers.services.targets import TaskTargets, sync_registrations
from dockyard.controllers.services.task_set_plan import TaskSetView, plan_task_sets
from dockyard.services.task_sets import computed_desired_count, task_sets
from dockyard.store import Tx


def balancing(service: dict[str, Any]) -> dict[str, Any]:
    """The service with every task set's load balancers (each target group once)."""
    seen: dict[str, dict[str, Any]] = {}
    for task_set in service.get("taskSets", []):
        for lb in task_set.get("loadBalancers", []):
            seen.setdefault(lb["targetGroupArn"], lb)
    return {**service, "loadBalancers": list(seen.values())}


def _owner(service: dict[str, Any], task_set: dict[str, Any] | None) -> dict[str, Any]:
    """The service as one task set's tasks see it: its load balancers and network."""
    if task_set is None:
        return {**service, "loadBalancers": []}
    owner = {**service, "loadBalancers": task_set.get("loadBalancers", [])}
    owner.pop("networkConfiguration", None)
    if task_set.get("networkConfiguration"):
        owner["networkConfiguration"] = task_set["networkConfiguration"]
    return owner


def external_task_views(
    tx: Tx,
    service: dict[str, Any],
    rows: list[dict[str, Any]],
    definitions: dict[str, Any],
    targets: dict[str, TaskTargets],
    *,
    now: float,
) -> list[TaskView]:
    by_set = {t["id"]: t for t in service.get("taskSets", [])}
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get("startedBy", ""), []).append(row)
    out: list[TaskView] = []
    for set_id, group in sorted(groups.items()):
        task_set = by_set.get(set_id)
        balanced = bool(task_set and task_set.get("loadBalancers"))
        out += task_views(tx, group, definitions, targets, balanced=balanced, now=now)
    return out


def plan_and_apply(
    service: dict[str, Any],
    view: ServiceView,
    tasks: list[TaskView],
    instances: list[InstanceView],
    now: float,
) -> Plan:
    """Decide, then write the task sets' changes into the service document."""
    sets = task_sets(service)
    views = [
        TaskSetView(
            id=t["id"],
            status=t["status"],
            desired=computed_desired_count(service, t),
            stability_status=t.get("stabilityStatus", "STABILIZING"),
            created_at=float(t.get("createdAt", 0.0)),
        )
        for t in sets
    ]
    result = plan_task_sets(view, views, tasks, instances, now)
    by_id = {t["id"]: t for t in sets}
    for change in result.changes:
        task_set = by_id[change.id]
        if change.remove:
            sets.remove(task_set)
            continue
        if change.stability_status is not None:
            task_set["stabilityStatus"] = change.stability_status
            task_set["stabilityStatusAt"] = now
            task_set["updatedAt"] = now
    return result.plan


def sync_external(
    tx: Tx,
    service: dict[str, Any],
    tasks: list[dict[str, Any]],
    instance_ids: dict[str, str],
    existing: dict[str, TaskTargets],
    *,
    now: float,
) -> tuple[dict[str, int], dict[str, int]]:
    """`targets.sync_registrations` per task set: each task in its own set's groups."""
    by_set = {t["id"]: t for t in service.get("taskSets", [])}
    groups: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        groups.setdefault(task.get("startedBy", ""), []).append(task)
    registered: dict[str, int] = {}
    deregistered: dict[str, int] = {}
    for set_id, group in sorted(groups.items()):
        owner = _owner(service, by_set.get(set_id))
        added, gone = sync_registrations(tx, owner, group, instance_ids, existing, now=now)
        for into, counts in ((registered, added), (deregistered, gone)):
            for arn, count in counts.items():
                into[arn] = into.get(arn, 0) + count
    return registered, deregistered
