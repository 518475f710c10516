"""Task state changes: agent reports, stop requests, and tasks given up for lost hosts.

Every change of a task's lastStatus goes through `transition`, which keeps the
instance's counts and resources in step (released exactly once, at STOPPED): on
its live node in memory and in its capacity row (`memory.changing`), never in the
instance document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dockyard.lifecycle import TaskStatus, advance
from dockyard.metrics.instruments import TASK_COUNTS
from dockyard.scheduler.node import Node
from dockyard.store import Kind, Tx
from dockyard.store.base import in_chunks
from dockyard.tasks import awsvpc
from dockyard.tasks.accounting import bind_dynamic, count_transition, release
from dockyard.tasks.memory import CapacityRow, memory_of
from dockyard.tasks.totals import totals_of

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
    tx.update(Kind.TASK, task["taskArn"], task, **_saved_columns(task, reservation))


def _saved_columns(task: dict[str, Any], reservation: dict[str, Any]) -> dict[str, Any]:
    """Bump the task's version; the indexed columns to write with it."""
    task["version"] = int(task.get("version", 1)) + 1
    return {
        "desired_status": task["desiredStatus"],
        "last_status": task["lastStatus"],
        "reservation": reservation,
        "stopped_at": float(task.get("stoppedAt") or 0),  # indexed expiry (migration 0007)
    }


def transition(
    tx: Tx,
    task: dict[str, Any],
    reservation: dict[str, Any],
    status: str,
    now: float,
    *,
    node: Node | None = None,
) -> bool:
    """Move lastStatus forward to `status`; update the instance's capacity (on `node`
    when the caller already holds it from `memory.changing`). True when it moved."""
    before = task["lastStatus"]
    after = advance(before, status)
    if after == before:
        return False
    task["lastStatus"] = after
    count_moved(tx, task.get("clusterArn", ""), task.get("group"), before, after)
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
        awsvpc.detach(task)  # an awsvpc task's ENI attachment: DELETED
    arn = task.get("containerInstanceArn")
    if node is not None:
        _account(node, reservation, before, after)
    elif arn:
        with memory_of(tx).changing(tx, arn) as held:
            _account(held, reservation, before, after)
    return True


def count_moved(tx: Tx, cluster: str, group: str | None, before: str | None, after: str) -> None:
    """Move a task in the live task counts (`TASK_COUNTS`) once `tx` commits: a
    rolled-back change (a failed batch of reports, retried message by message) never
    counts."""
    totals = totals_of(tx.store)

    def moved() -> None:
        TASK_COUNTS.moved(cluster, group, before, after)
        totals.moved(cluster, before, after)

    tx.after_commit(moved)


def _account(node: Node, reservation: dict[str, Any], before: str, after: str) -> None:
    count_transition(node, before, after)
    if after == "STOPPED":
        release(node, reservation)


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
    arn = task.get("containerInstanceArn")
    node = memory_of(tx).node(tx, arn) if arn else None
    return bool(node is not None and node.agent_connected)


def give_up(
    tx: Tx,
    task_arn: str,
    reason: str,
    *,
    stop_code: str,
    now: float,
    instance: dict[str, Any] | None = None,
) -> bool:
    """Mark a task STOPPED without its agent (its host is lost).

    `instance` (the host's document) is accepted for older callers and not needed:
    the capacity lives in its own row, not in the document.
    """
    del instance
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
    transition(tx, task, reservation, "STOPPED", now)
    _save(tx, task, reservation)
    return True


def apply_reports(
    tx: Tx, reports: Iterable[Any], instance_arn: str, now: float
) -> list[dict[str, Any]]:
    """Apply one agent message's task reports in the caller's transaction; returns the
    tasks that changed (see `apply_report_batches`)."""
    return apply_report_batches(tx, [(instance_arn, reports)], now)


def apply_report_batches(
    tx: Tx, batches: Sequence[tuple[str, Iterable[Any]]], now: float
) -> list[dict[str, Any]]:
    """Apply the task reports of many agent messages (instance ARN, reports) in the
    caller's transaction; returns the tasks that changed.

    The hot path of a scale-up (profiled in bench/README.md): the agent hub hands over
    every state message received in one event-loop turn, so all their tasks are read
    with one `SELECT ... IN` per 500, each instance's capacity is changed once per
    batch (its messages grouped, in order), and the task rows and the capacity rows
    are each written with one executemany - not a statement (or a commit) per message
    or per task.
    Malformed reports (no task ARN, a lastStatus that is no status) and tasks not on
    the reporting instance are ignored.
    """
    valid: dict[str, list[dict[str, Any]]] = {}  # instance -> its reports, in order
    for instance_arn, reports in batches:
        valid.setdefault(instance_arn, []).extend(r for r in reports if _well_formed(r))
    arns = {r["taskArn"] for reports in valid.values() for r in reports}
    if not arns:
        return []
    rows = {
        row["arn"]: row for row in in_chunks(arns, lambda c: tx.find_rows(Kind.TASK, {"arn": c}))
    }
    if not rows:
        return []
    moved: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    capacity_rows: list[CapacityRow] = []
    memory = memory_of(tx)
    for instance_arn, reports in valid.items():
        if not any(r["taskArn"] in rows for r in reports):
            continue
        with memory.changing(tx, instance_arn, rows=capacity_rows) as node:
            for report in reports:
                row = rows.get(report["taskArn"])
                if row is None:
                    continue
                task, reservation = row["doc"], row["reservation"]
                if (
                    task.get("containerInstanceArn") != instance_arn
                    or task["lastStatus"] == "STOPPED"
                ):
                    continue  # (a report after one that stopped it in this batch: too)
                changed = _apply_containers(task, reservation, report, node)
                changed |= _apply_task(tx, task, reservation, report, now, node)
                if changed:
                    moved[task["taskArn"]] = (task, reservation)
    tx.update_many(Kind.TASK, [(arn, t, _saved_columns(t, r)) for arn, (t, r) in moved.items()])
    tx.update_many(Kind.INSTANCE_CAPACITY, capacity_rows)  # one per instance (grouped)
    return [task for task, _ in moved.values()]


_STATUSES = frozenset(s.name for s in TaskStatus)


def _well_formed(report: Any) -> bool:
    """A report this module can apply: a task ARN, and statuses (of the task and its
    containers) that are statuses; anything else would fail the whole batch."""
    if not isinstance(report, dict) or not isinstance(report.get("taskArn"), str):
        return False
    if "lastStatus" in report and not _is_status(report["lastStatus"]):
        return False
    containers = report.get("containers", [])
    return isinstance(containers, list) and all(
        isinstance(c, dict) and ("lastStatus" not in c or _is_status(c["lastStatus"]))
        for c in containers
    )


def _is_status(value: Any) -> bool:
    return isinstance(value, str) and value in _STATUSES


def _apply_containers(
    task: dict[str, Any], reservation: dict[str, Any], report: dict[str, Any], node: Node
) -> bool:
    changed = False
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
        if state.get("networkBindings"):
            changed |= bind_dynamic(node, reservation, state["networkBindings"])
    return changed


def _apply_task(  # noqa: PLR0917 - private step of apply_report_batches
    tx: Tx,
    task: dict[str, Any],
    reservation: dict[str, Any],
    report: dict[str, Any],
    now: float,
    node: Node,
) -> bool:
    changed = False
    for field in ("pullStartedAt", "pullStoppedAt", "executionStoppedAt", "healthStatus"):
        if field in report and task.get(field) != report[field]:
            task[field] = report[field]
            changed = True
    if isinstance(report.get("eni"), dict) and report.get("lastStatus") != "STOPPED":
        changed |= awsvpc.attach(task, report["eni"])  # the agent's address for the task
    if report.get("lastStatus") == "STOPPED" and task["desiredStatus"] != "STOPPED":
        task.setdefault("stoppedReason", report.get("reason") or "Task stopped.")
        if report.get("stopCode"):
            task.setdefault("stopCode", report["stopCode"])
    if "lastStatus" in report:
        changed |= transition(tx, task, reservation, report["lastStatus"], now, node=node)
        if report["lastStatus"] == "RUNNING" and report.get("startedAt"):
            task["startedAt"] = report["startedAt"]
    return changed
