"""Services behind load balancers: tasks <-> target groups.

RUNNING task          -> register (instance id, host port) in each target group
task to be stopped    -> deregister first (draining until HAProxy shows no
                         request in flight, at most the group's deregistration
                         delay); the stop happens once the LB controller has
                         removed the drained target
task that stopped     -> deregister its targets at once
target health         -> the task's health for the reconcile (HEALTHY only when
                         every target of the task is healthy)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.elbv2.targets import deregister_targets, register_targets
from dockyard.store import Kind, Tx
from dockyard.tasks.awsvpc import ip_targets


@dataclass
class TaskTargets:
    """The targets one task has, per state."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def health(self) -> str:
        states = [r["doc"]["TargetHealth"]["State"] for r in self.rows]
        if not states:
            return "UNKNOWN"
        if any(s == "unhealthy" for s in states):
            return "UNHEALTHY"
        return "HEALTHY" if all(s == "healthy" for s in states) else "UNKNOWN"

    @property
    def draining(self) -> bool:
        return any(r["doc"]["TargetHealth"]["State"] == "draining" for r in self.rows)


def targets_by_task(tx: Tx, service: dict[str, Any]) -> dict[str, TaskTargets]:
    """Target rows of the service's target groups, grouped by the task that registered them."""
    out: dict[str, TaskTargets] = {}
    for lb in service.get("loadBalancers", []):
        for row in tx.find_rows(Kind.TARGET, {"target_group": lb["targetGroupArn"]}):
            source = row["doc"].get("source", "")
            if source.startswith("arn:") and ":task/" in source:
                out.setdefault(source, TaskTargets()).rows.append(row)
    return out


def desired_targets(
    service: dict[str, Any], task: dict[str, Any], instance_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """(target group ARN, {"Id", "Port"}) for each loadBalancers entry the task serves;
    an awsvpc task by its own address and containerPort (`ip` target groups)."""
    by_address = ip_targets(service, task)
    if by_address is not None:
        return by_address
    out = []
    for lb in service.get("loadBalancers", []):
        for container in task.get("containers", []):
            if container["name"] != lb.get("containerName"):
                continue
            for binding in container.get("networkBindings", []):
                if binding.get("containerPort") == lb.get("containerPort") and binding.get(
                    "hostPort"
                ):
                    out.append(
                        (
                            lb["targetGroupArn"],
                            {"Id": instance_id, "Port": int(binding["hostPort"])},
                        )
                    )
    return out


def sync_registrations(
    tx: Tx,
    service: dict[str, Any],
    tasks: list[dict[str, Any]],
    instance_ids: dict[str, str],
    existing: dict[str, TaskTargets],
    *,
    now: float,
) -> tuple[dict[str, int], dict[str, int]]:
    """Register RUNNING tasks' targets; deregister targets of tasks that stopped.

    Returns ({target group: registered}, {target group: deregistered}) for the events.
    """
    registered: dict[str, int] = {}
    deregistered: dict[str, int] = {}
    for task in tasks:
        arn = task["taskArn"]
        have = existing.get(arn, TaskTargets())
        if task["lastStatus"] == "STOPPED" or task["desiredStatus"] == "STOPPED":
            if task["lastStatus"] == "STOPPED":
                for row in have.rows:
                    if row["doc"]["TargetHealth"]["State"] != "draining":
                        group = row["target_group"]
                        deregister_targets(tx, group, [row["doc"]["Target"]], now)
                        deregistered[group] = deregistered.get(group, 0) + 1
            continue
        if task["lastStatus"] != "RUNNING" or have.rows:
            continue
        instance_id = instance_ids.get(task.get("containerInstanceArn", ""))
        if instance_id is None:
            continue
        for group, target in desired_targets(service, task, instance_id):
            register_targets(tx, group, [target], now, source=arn)
            registered[group] = registered.get(group, 0) + 1
    return registered, deregistered


def release_before_stop(
    tx: Tx, task_arn: str, existing: dict[str, TaskTargets], now: float
) -> tuple[bool, dict[str, int]]:
    """Deregister a task's targets before it is stopped.

    Returns (may stop now, {target group: deregistered now}). A task may stop once it
    has no targets left (the LB controller deletes a target when its drain ends).
    """
    have = existing.get(task_arn)
    if have is None or not have.rows:
        return True, {}
    deregistered: dict[str, int] = {}
    for row in have.rows:
        if row["doc"]["TargetHealth"]["State"] != "draining":
            group = row["target_group"]
            deregister_targets(tx, group, [row["doc"]["Target"]], now)
            deregistered[group] = deregistered.get(group, 0) + 1
    return False, deregistered
