"""The service controller's part of the deployment history: one row per state change.

Neighbours: `loop.py` calls `follow` right after it applied a Plan's deployment changes
to the service document (`_apply_deployments`), in the same transaction; the rows and
transitions are `services/history_records.py` and `services/history.py`.

    change                                   service deployment of that entry
    rollout_state COMPLETED                  SUCCESSFUL (ROLLBACK_SUCCESSFUL for a rollback)
    rollout_state FAILED, no rollback        STOPPED (ROLLBACK_FAILED for a rollback)
    new entry with rollback_of / rollback_to ROLLBACK_IN_PROGRESS; the new entry runs the
                                             revision of `rollback_to` and belongs to the
                                             service deployment of `rollback_of`

Count-only changes (failedTasks) write nothing: DescribeServiceDeployments reads the
live count from the service document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.controllers.services.model import DeploymentChange
from dockyard.services import history, history_records
from dockyard.store import Tx


class _Rows:
    """The service deployments one step touches: each read once, written once."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.docs: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()

    def of(self, deployment: dict[str, Any]) -> dict[str, Any] | None:
        arn = deployment.get(history.DEPLOYMENT_KEY)
        if not arn:
            return None  # an entry from before the history existed
        if arn not in self.docs:
            found = history_records.load(self.tx, deployment)
            if found is None:
                return None
            self.docs[arn] = found
        return self.docs[arn]

    def mark(self, doc: dict[str, Any], changed: bool) -> None:
        if changed:
            self.changed.add(doc["serviceDeploymentArn"])

    def save(self) -> None:
        for arn in sorted(self.changed):
            history_records.save(self.tx, self.docs[arn])


def follow(
    tx: Tx, deployments: Sequence[dict[str, Any]], changes: Sequence[DeploymentChange], now: float
) -> None:
    """Record the history of `changes`, already applied to `deployments` (the service
    document's entries, with those the changes removed)."""
    by_id = {d["id"]: d for d in deployments}
    rolled_back = {c.rollback_of for c in changes if c.rollback_of}
    rows = _Rows(tx)
    for change in changes:
        deployment = by_id.get(change.id)
        if deployment is None:
            continue
        if change.rollback_of is not None:
            _rollback(rows, deployment, by_id, change, now)
            continue
        doc = rows.of(deployment)
        if doc is None:
            continue
        if change.rollout_state == "COMPLETED":
            rows.mark(doc, history.completed(doc, now))
        elif change.rollout_state == "FAILED" and change.id not in rolled_back:
            reason = deployment.get("rolloutStateReason") or history.CIRCUIT_BREAKER_REASON
            failures = int(deployment.get("failedTasks", 0))
            rows.mark(doc, history.failed(doc, reason, failures, now))
    rows.save()


def _rollback(
    rows: _Rows,
    created: dict[str, Any],
    by_id: dict[str, dict[str, Any]],
    change: DeploymentChange,
    now: float,
) -> None:
    failed = by_id.get(change.rollback_of or "")
    target = by_id.get(change.rollback_to or "")
    if failed is None or target is None or history.REVISION_KEY not in target:
        return
    revision = target[history.REVISION_KEY]
    created[history.REVISION_KEY] = revision
    doc = rows.of(failed)
    if doc is None:
        return
    created[history.DEPLOYMENT_KEY] = doc["serviceDeploymentArn"]
    reason = failed.get("rolloutStateReason") or history.CIRCUIT_BREAKER_REASON
    failures = int(failed.get("failedTasks", 0))
    rows.mark(doc, history.rollback_started(doc, revision, reason, now, failures=failures))
