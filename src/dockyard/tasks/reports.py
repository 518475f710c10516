"""Task state changes: agent reports, stop requests, and tasks given up for lost hosts.

Every change of a task's lastStatus goes through `transition`, which keeps the
instance's counts and resources in step (released exactly once, at STOPPED).
"""

from __future__ import annotations

from typing import Any

from dockyard.lifecycle import TaskStatus, advance
from dockyard.metrics.instruments import TASK_COUNTS
from dockyard.store import Kind, Tx
from dockyard.tasks.accounting import bind_dynamic, count_transition, release

TIMESTAMPS = {
    "RUNNING": "startedAt",
    "STOPPING": "stoppingAt",
    "STOPPED": "stoppedAt",
}


def _load(tx: Tx, task_arn: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    row = tx.get_row(Kind.TASK, task_arn)
    if row is None:
        return None
    return row["doc"], row["reservation"]


def _save(tx: Tx, task: dict[str, Any], reservation: dict[str, Any]) -> None:
    task["version"] = int(task.get("version", 1)) + 1
    tx.update(
        Kind.TASK,
        task["taskArn"],
        task,
        desired_status=task["desiredStatus"],
        last_status=task["lastStatus"],
        reservation=reservation,
    )


def transition(
    tx: Tx,
    task: dict[str, Any],
    reservation: dict[str, Any],
    status: str,
    now: float,
    *,
    instance: dict[str, Any] | None = None,
) -> bool:
    """Move lastStatus forward to `status`; update the instance. True when it moved."""
    before = task["lastStatus"]
    after = advance(before, status)
    if after == before:
        return False
    task["lastStatus"] = after
    TASK_COUNTS.moved(task.get("clusterArn", ""), task.get("group"), before, after)
    for name, field in TIMESTAMPS.items():
        if TaskStatus.parse(after) >= TaskStatus.parse(name) and field not in task:
            if name == "RUNNING" and after != "RUNNING":
                continue  # a task that never ran has no startedAt
            task[field] = now
    if after == "STOPPED":
        task["desiredStatus"] = "STOPPED"
        task.setdefault("executionStoppedAt", now)
        for container in task["containers"]:
            if container["lastStatus"] != "STOPPED":
                container["lastStatus"] = "STOPPED"
    arn = task.get("containerInstanceArn")
    if arn:
        doc = instance or tx.get(Kind.CONTAINER_INSTANCE, arn)
        if doc is not None:
            count_transition(doc, before, after)
            if after == "STOPPED":
                release(doc, reservation)
            if instance is None:
                tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
    return True


def request_stop(
    tx: Tx, task_arn: str, reason: str, stop_code: str, now: float
) -> dict[str, Any] | None:
    """desiredStatus -> STOPPED (the agent does the rest). Returns the task."""
    loaded = _load(tx, task_arn)
    if loaded is None:
        return None
    task, reservation = loaded
    if task["desiredStatus"] == "STOPPED":
        return task
    task["desiredStatus"] = "STOPPED"
    task.setdefault("stoppedReason", reason)
    task.setdefault("stopCode", stop_code)
    if task["lastStatus"] == "PROVISIONING" and not _agent_connected(tx, task):
        # Never handed to an agent that is up: nothing runs, it is stopped now.
        transition(tx, task, reservation, "STOPPED", now)
    _save(tx, task, reservation)
    return task


def _agent_connected(tx: Tx, task: dict[str, Any]) -> bool:
    doc = tx.get(Kind.CONTAINER_INSTANCE, task.get("containerInstanceArn") or "")
    return bool(doc and doc.get("agentConnected"))


def give_up(
    tx: Tx, task_arn: str, reason: str, *, stop_code: str, now: float, instance: dict[str, Any]
) -> bool:
    """Mark a task STOPPED without its agent (its host is lost)."""
    loaded = _load(tx, task_arn)
    if loaded is None:
        return False
    task, reservation = loaded
    if task["lastStatus"] == "STOPPED":
        return False
    task.setdefault("stoppedReason", reason)
    task.setdefault("stopCode", stop_code)
    for container in task["containers"]:
        container.setdefault("reason", reason)
    transition(tx, task, reservation, "STOPPED", now, instance=instance)
    _save(tx, task, reservation)
    return True


def apply_report(
    tx: Tx, report: dict[str, Any], instance_arn: str, now: float
) -> dict[str, Any] | None:
    """Apply one agent report of a task's state. Returns the task when it changed.

    Reports about tasks that are not on the reporting instance are ignored.
    """
    loaded = _load(tx, report["taskArn"])
    if loaded is None:
        return None
    task, reservation = loaded
    if task.get("containerInstanceArn") != instance_arn or task["lastStatus"] == "STOPPED":
        return None
    changed = False
    instance = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
    by_name = {c["name"]: c for c in task["containers"]}
    for state in report.get("containers", []):
        container = by_name.get(state.get("name", ""))
        if container is None:
            continue
        for field in ("runtimeId", "exitCode", "reason", "healthStatus", "networkBindings"):
            if field in state and container.get(field) != state[field]:
                container[field] = state[field]
                changed = True
        if "lastStatus" in state:
            status = advance(container["lastStatus"], state["lastStatus"])
            if status != container["lastStatus"]:
                container["lastStatus"] = status
                changed = True
        if instance is not None and state.get("networkBindings"):
            changed |= bind_dynamic(instance, reservation, state["networkBindings"])
    for field in ("pullStartedAt", "pullStoppedAt", "healthStatus"):
        if field in report and task.get(field) != report[field]:
            task[field] = report[field]
            changed = True
    if report.get("lastStatus") == "STOPPED" and task["desiredStatus"] != "STOPPED":
        task.setdefault("stoppedReason", report.get("reason") or "Task stopped.")
        if report.get("stopCode"):
            task.setdefault("stopCode", report["stopCode"])
    if "lastStatus" in report:
        changed |= transition(tx, task, reservation, report["lastStatus"], now, instance=instance)
        if report["lastStatus"] == "RUNNING" and report.get("startedAt"):
            task["startedAt"] = report["startedAt"]
    if not changed:
        return None
    _save(tx, task, reservation)
    if instance is not None:
        tx.update(Kind.CONTAINER_INSTANCE, instance_arn, instance)
    return task
