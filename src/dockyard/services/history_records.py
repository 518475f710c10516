"""Service deployment history in the store: the rows `history.py`'s documents live in.

Neighbours: `api/ecs/services.py` (CreateService/UpdateService start a deployment:
`start`), `controllers/services/history.py` (the controller's state changes: `save`),
`api/ecs/service_deployments.py` (the four history actions). Every write is one row;
the rows are found from the internal keys of the service document's deployment entries
(history.REVISION_KEY, history.DEPLOYMENT_KEY), never by scanning.
"""

from __future__ import annotations

from typing import Any

from dockyard.arns import Identity
from dockyard.services import history
from dockyard.store import Kind, Tx


def start(
    tx: Tx,
    identity: Identity,
    service: dict[str, Any],
    deployment: dict[str, Any],
    definition: dict[str, Any],
    *,
    threshold: int,
    now: float,
) -> None:
    """Record the deployment entry Create/UpdateService just added to `service`: a new
    revision, a new IN_PROGRESS service deployment from the revisions the service's other
    entries run, and STOPPED for the ongoing service deployments it supersedes. Tags the
    entry with both ARNs (the caller writes the service document)."""
    revision = history.revision_arn(identity, service, deployment["id"])
    tx.insert(
        Kind.SERVICE_REVISION,
        revision,
        history.new_revision(service, definition, revision, now),
        service=service["serviceArn"],
        created_at=now,
    )
    others = [d for d in service.get("deployments", []) if d is not deployment]
    sources = list(history.revisions_in_service({"deployments": others}))
    stop_ongoing(tx, others, history.SUPERSEDED_REASON, now)
    arn = history.new_deployment_arn(identity, service)
    doc = history.new_service_deployment(
        service, arn, revision, sources, threshold=threshold, now=now
    )
    tx.insert(
        Kind.SERVICE_DEPLOYMENT,
        arn,
        doc,
        service=service["serviceArn"],
        status=doc["status"],
        created_at=now,
    )
    deployment[history.REVISION_KEY] = revision
    deployment[history.DEPLOYMENT_KEY] = arn


def stop_ongoing(tx: Tx, deployments: list[dict[str, Any]], reason: str, now: float) -> None:
    """STOPPED for the ongoing service deployments of these entries (superseded by a newer
    deployment, or the service is being deleted)."""
    arns = {d[history.DEPLOYMENT_KEY] for d in deployments if history.DEPLOYMENT_KEY in d}
    for arn in sorted(arns):
        doc = tx.get(Kind.SERVICE_DEPLOYMENT, arn)
        if doc is not None and history.stopped(doc, reason, now):
            save(tx, doc)


def save(tx: Tx, doc: dict[str, Any]) -> None:
    tx.update(Kind.SERVICE_DEPLOYMENT, doc["serviceDeploymentArn"], doc, status=doc["status"])


def load(tx: Tx, deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The service deployment a deployment entry belongs to (None for entries recorded
    before the history existed)."""
    arn = deployment.get(history.DEPLOYMENT_KEY)
    return tx.get(Kind.SERVICE_DEPLOYMENT, arn) if arn else None


def rollback_revision(tx: Tx, service_arn: str, doc: dict[str, Any]) -> str | None:
    """The revision a rollback of `doc` returns to: the newest one that deployed
    successfully, else the newest of its sources (None: nothing to go back to)."""
    found = tx.find(
        Kind.SERVICE_DEPLOYMENT,
        {"service": service_arn, "status": list(history.SUCCESSFUL_STATUSES)},
        order_by=("created_at", "arn"),
        descending=True,
        limit=1,
    )
    if found:
        last = found[0]
        if last["status"] == "ROLLBACK_SUCCESSFUL" and last.get("rollback"):
            return str(last["rollback"]["serviceRevisionArn"])
        return str(last["targetServiceRevision"]["arn"])
    sources = doc.get("sourceServiceRevisions", [])
    return str(sources[0]["arn"]) if sources else None


def forget(tx: Tx, service_arn: str) -> None:
    """Drop a service's history (its ARN is being reused by a new CreateService)."""
    for kind in (Kind.SERVICE_DEPLOYMENT, Kind.SERVICE_REVISION):
        for key in tx.find_keys(kind, {"service": service_arn}):
            tx.delete(kind, key)
