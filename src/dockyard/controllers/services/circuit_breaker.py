"""The deployment circuit breaker: counts the primary's failed tasks and fails (or rolls back) it.

Neighbours: `reconcile.py` calls `evaluate` before planning starts and stops; a
`Verdict` with `failed` set stops `rolling.py` / `daemon.py` from starting tasks
for the primary. Texts live in `context.py`.

    failures  = tasks of the primary that stopped without ever reaching RUNNING
                (`TaskView.failed_to_start`); never lower than the stored count, so
                a store that purges old STOPPED tasks cannot reset the breaker.
    threshold = 0.5 x desiredCount bounded to [3, 200]:
                D = 4 -> max(ceil(2.0), 3) = 3;  D = 10 -> 5;  D = 1000 -> min(500, 200) = 200

On reaching the threshold while the primary is IN_PROGRESS (and the breaker is
enabled) the primary turns FAILED. With rollback, and a deployment to go back to
(the newest ACTIVE one that COMPLETED, unless it runs the very task definition that
failed: rolling back to it would fail the same way), a new PRIMARY deployment
`<failed id>-rollback` with that task definition is created and the failed one is
demoted to ACTIVE: its tasks are then replaced like any old deployment's. Without
rollback the FAILED primary keeps its healthy tasks and starts no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.controllers.services.context import (
    CIRCUIT_BREAKER_REASON,
    ceil_div,
    failed_message,
    rollback_message,
)
from dockyard.controllers.services.model import (
    DeploymentChange,
    DeploymentView,
    ServiceView,
    TaskView,
)

ROLLBACK_SUFFIX = "-rollback"


@dataclass(frozen=True, slots=True)
class Verdict:
    changes: tuple[DeploymentChange, ...] = ()
    events: tuple[str, ...] = ()
    failed: bool = False  # the primary is (now) FAILED: start nothing for it


def threshold(desired: int) -> int:
    return min(max(ceil_div(desired, 2), 3), 200)


def rollback_candidate(deployments: Sequence[DeploymentView]) -> DeploymentView | None:
    """The newest ACTIVE deployment that COMPLETED (`deployments` sorted oldest first)."""
    completed = [d for d in deployments if d.status == "ACTIVE" and d.rollout_state == "COMPLETED"]
    return completed[-1] if completed else None


def evaluate(
    service: ServiceView,
    primary: DeploymentView,
    deployments: Sequence[DeploymentView],
    tasks: Sequence[TaskView],
    desired: int,
) -> Verdict:
    counted = sum(1 for t in tasks if t.deployment_id == primary.id and t.failed_to_start)
    failures = max(primary.failed_tasks, counted)
    reported = failures if failures != primary.failed_tasks else None
    count_only: tuple[DeploymentChange, ...] = ()
    if reported is not None:
        count_only = (DeploymentChange(primary.id, failed_tasks=reported),)

    if primary.rollout_state == "FAILED":
        return Verdict(count_only, failed=True)
    tripped = (
        service.circuit_breaker_enable
        and primary.rollout_state == "IN_PROGRESS"
        and failures >= threshold(desired)
    )
    if not tripped:
        return Verdict(count_only)

    events = [failed_message(service.name, primary.id)]
    target = rollback_candidate(deployments) if service.circuit_breaker_rollback else None
    new_id = primary.id + ROLLBACK_SUFFIX
    if (
        target is None
        or target.task_definition == primary.task_definition
        or any(d.id == new_id for d in deployments)
    ):
        change = DeploymentChange(
            primary.id,
            rollout_state="FAILED",
            rollout_state_reason=CIRCUIT_BREAKER_REASON,
            failed_tasks=reported,
        )
        return Verdict((change,), tuple(events), failed=True)
    demote = DeploymentChange(
        primary.id,
        status="ACTIVE",
        rollout_state="FAILED",
        rollout_state_reason=CIRCUIT_BREAKER_REASON,
        failed_tasks=reported,
    )
    create = DeploymentChange(
        new_id,
        status="PRIMARY",
        new_task_definition=target.task_definition,
        rollback_of=primary.id,
        rollback_to=target.id,
    )
    events.append(rollback_message(service.name, primary.id, new_id))
    return Verdict((demote, create), tuple(events), failed=True)
