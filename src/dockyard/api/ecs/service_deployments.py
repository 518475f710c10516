"""Service deployment history: ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment.

The rows are written where deployments change (`api/ecs/services.py` when a deployment
starts, the service controller as it completes, fails or rolls back: see
`services/history.py`); these handlers read them, adding what is live (task counts
per revision, the circuit breaker's failure count) from the service document and the
tasks' indexed columns. StopServiceDeployment writes desired state like UpdateService:
ROLLBACK puts a new PRIMARY deployment of the earlier revision in the service document
(as the circuit breaker's rollback does) and the controller rolls it out.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.service_refs import find_service
from dockyard.api.ecs.services import present
from dockyard.api.pagination import finish, page_of
from dockyard.context import ApiContext, Params, Result
from dockyard.controllers.services.circuit_breaker import ROLLBACK_SUFFIX
from dockyard.controllers.services.context import rollback_message
from dockyard.errors import AwsError, InvalidParameterException, ServiceNotFoundException
from dockyard.services import history, history_records
from dockyard.services.documents import add_event, new_deployment, new_deployment_id
from dockyard.store import Kind, Tx

MAX_ARNS = 20
STOP_TYPES = ("ROLLBACK", "ABORT")


class ServiceDeploymentNotFoundException(AwsError):
    code = "ServiceDeploymentNotFoundException"


class ConflictException(AwsError):
    code = "ConflictException"


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(parse_timestamp(str(value)).timestamp())
    except (ValueError, OverflowError):
        raise InvalidParameterException(f"Invalid timestamp: {value!r}.") from None


def _arns(params: Params, member: str) -> list[str]:
    arns = list(params[member])
    if not 1 <= len(arns) <= MAX_ARNS:
        raise InvalidParameterException(
            f"{member} must contain between 1 and {MAX_ARNS} ARNs; got {len(arns)}."
        )
    return arns


def list_service_deployments(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params, default=20, maximum=100)
    statuses = list(params.get("status") or [])
    for status in statuses:
        if status not in history.STATUSES:
            raise InvalidParameterException(
                f"Invalid status '{status}'; valid values: {', '.join(history.STATUSES)}."
            )
    window = params.get("createdAt") or {}
    after = _epoch(window["after"]) if "after" in window else None
    before = _epoch(window["before"]) if "before" in window else None
    # Newest first: the keyset bound is "strictly older than" the token's (createdAt, arn),
    # or than `before` (inclusive: the next float up, with any ARN).
    bound: list[Any] | None = None
    if page.after is not None:
        if len(page.after) != 2 or not isinstance(page.after[1], str):
            raise InvalidParameterException("Invalid nextToken.")
        if not isinstance(page.after[0], int | float):
            raise InvalidParameterException("Invalid nextToken.")
        bound = [float(page.after[0]), page.after[1]]
    if before is not None:
        ceiling = [math.nextafter(before, math.inf), ""]
        bound = ceiling if bound is None else min(bound, ceiling)
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        service = find_service(ctx, tx, cluster, params["service"])
        if service is None:
            raise ServiceNotFoundException()
        where: dict[str, Any] = {"service": service["serviceArn"]}
        if statuses:
            where["status"] = statuses
        rows = tx.find(
            Kind.SERVICE_DEPLOYMENT,
            where,
            order_by=("created_at", "arn"),
            descending=True,
            after=bound,
            limit=page.fetch,
        )
    if after is not None:  # rows are newest first: the older ones are all at the end
        rows = [r for r in rows if r["createdAt"] >= after]
    items, token = finish(rows, page, lambda r: [r["createdAt"], r["serviceDeploymentArn"]])
    result: Result = {"serviceDeployments": [history.brief(r) for r in items]}
    if token:
        result["nextToken"] = token
    return result


def _live(tx: Tx, docs: list[dict[str, Any]]) -> None:
    """Task counts per revision and the breaker's failure count, from the services now."""
    services: dict[str, tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]] = {}
    for doc in docs:
        arn = doc["serviceArn"]
        if arn not in services:
            found = tx.get(Kind.SERVICE, arn)
            shown = present(tx, found, set()) if found is not None else {}
            revisions = shown.get("currentServiceRevisions", [])
            services[arn] = (found, {s["arn"]: s for s in revisions})
        service, summaries = services[arn]
        if service is not None and doc["status"] in history.ONGOING:
            for entry in service.get("deployments", []):
                if entry.get(history.DEPLOYMENT_KEY) == doc["serviceDeploymentArn"]:
                    breaker = doc.setdefault("deploymentCircuitBreaker", {})
                    breaker["failureCount"] = max(
                        int(breaker.get("failureCount", 0)), int(entry.get("failedTasks", 0))
                    )
        target = doc["targetServiceRevision"]["arn"]
        doc["targetServiceRevision"] = _summary(summaries, target)
        doc["sourceServiceRevisions"] = [
            _summary(summaries, s["arn"]) for s in doc.get("sourceServiceRevisions", [])
        ]


def _summary(summaries: dict[str, dict[str, Any]], arn: str) -> dict[str, Any]:
    """A ServiceRevisionSummary: the counts of the service's entries running `arn` now."""
    found = summaries.get(arn)
    zero = {"requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0}
    return {"arn": arn, **zero} if found is None else dict(found)


def describe_service_deployments(ctx: ApiContext, params: Params) -> Result:
    arns = _arns(params, "serviceDeploymentArns")
    found, failures = [], []
    with ctx.store.read() as tx:
        for arn in arns:
            doc = tx.get(Kind.SERVICE_DEPLOYMENT, arn)
            if doc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(doc)
        _live(tx, found)
    return {"serviceDeployments": found, "failures": failures}


def describe_service_revisions(ctx: ApiContext, params: Params) -> Result:
    arns = _arns(params, "serviceRevisionArns")
    found, failures = [], []
    with ctx.store.read() as tx:
        for arn in arns:
            doc = tx.get(Kind.SERVICE_REVISION, arn)
            if doc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(doc)
    return {"serviceRevisions": found, "failures": failures}


def stop_service_deployment(ctx: ApiContext, params: Params) -> Result:
    arn = params["serviceDeploymentArn"]
    stop_type = params.get("stopType", "ROLLBACK")
    if stop_type not in STOP_TYPES:
        raise InvalidParameterException(
            f"Invalid stopType '{stop_type}'; valid values: {', '.join(STOP_TYPES)}."
        )
    with ctx.store.transaction() as tx:
        doc = tx.get(Kind.SERVICE_DEPLOYMENT, arn)
        if doc is None:
            raise ServiceDeploymentNotFoundException("The service deployment does not exist.")
        status = doc["status"]
        if status in {"STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}:
            return {"serviceDeploymentArn": arn}  # already stopping: it carries on
        if status not in history.ONGOING:
            raise ConflictException(
                f"The service deployment is {status} and can no longer be stopped."
            )
        service = tx.get(Kind.SERVICE, doc["serviceArn"])
        primary = None
        if service is not None and service["status"] == "ACTIVE":
            primary = next(
                (
                    d
                    for d in service["deployments"]
                    if d["status"] == "PRIMARY" and d.get(history.DEPLOYMENT_KEY) == arn
                ),
                None,
            )
        if service is None or primary is None:
            raise ConflictException("The service deployment is not the service's current one.")
        now = ctx.now()
        if stop_type == "ABORT":
            _abort(service, primary, doc, now)
        else:
            _roll_back(tx, service, primary, doc, now)
        history_records.save(tx, doc)
        tx.update(Kind.SERVICE, service["serviceArn"], service)
    ctx.services_changed({service["serviceArn"]})
    return {"serviceDeploymentArn": arn}


def _abort(
    service: dict[str, Any], primary: dict[str, Any], doc: dict[str, Any], now: float
) -> None:
    """Stop where it stands: the primary starts no more tasks (a FAILED rollout)."""
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = history.ABORT_REASON
    primary["updatedAt"] = now
    history.stopped(doc, history.ABORT_REASON, now)
    add_event(
        service, f"(service {service['serviceName']}) (deployment {primary['id']}) stopped.", now
    )


def _roll_back(
    tx: Tx, service: dict[str, Any], primary: dict[str, Any], doc: dict[str, Any], now: float
) -> None:
    """As the circuit breaker's rollback: the primary is demoted (FAILED) and a new PRIMARY
    deployment runs the revision to go back to; no new revision is created."""
    revision_arn = history_records.rollback_revision(tx, service["serviceArn"], doc)
    revision = tx.get(Kind.SERVICE_REVISION, revision_arn) if revision_arn else None
    if revision_arn is None or revision is None:
        raise ConflictException("There is no earlier service revision to roll back to.")
    primary["status"] = "ACTIVE"
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = history.ROLLBACK_REQUESTED_REASON
    primary["updatedAt"] = now
    ids = {d["id"] for d in service["deployments"]}
    new_id = primary["id"] + ROLLBACK_SUFFIX
    if new_id in ids:
        new_id = new_deployment_id()
    created = new_deployment(revision["taskDefinition"], int(service["desiredCount"]), now, new_id)
    created[history.REVISION_KEY] = revision_arn
    created[history.DEPLOYMENT_KEY] = doc["serviceDeploymentArn"]
    service["deployments"].insert(0, created)
    service["taskDefinition"] = revision["taskDefinition"]
    history.rollback_started(doc, revision_arn, history.ROLLBACK_REQUESTED_REASON, now)
    add_event(service, rollback_message(service["serviceName"], primary["id"], new_id), now)
