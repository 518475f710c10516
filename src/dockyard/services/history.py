"""ECS service deployment history as documents: service revisions and service deployments.

Pure: no store, no clock (`now` is given). `history_records.py` reads and writes these
documents; `api/ecs/service_deployments.py` answers with them, `api/ecs/services.py` and
`controllers/services/history.py` call the transitions below.

    service revision    immutable record of what one deployment runs (task definition,
                        launch type, load balancers, registries, network configuration,
                        placement, container images). One per deployment that
                        Create/UpdateService starts; a rollback runs the earlier revision
                        again and creates none (as ECS).
    service deployment  one move from the *source* revisions (what ran before) to the
                        *target* revision, with its status, times, circuit breaker and
                        rollback.

The service document's `deployments` (ECS's Deployment shape, ids `ecs-svc/<digits>`)
are what the controller rolls out; each entry carries two internal keys, never shown
(`public_deployment` strips them): REVISION_KEY, the revision it runs, and
DEPLOYMENT_KEY, the service deployment it belongs to. So the controller finds the one
row to write from the entry it changes: no scans.

Status transitions (`ONGOING` -> terminal; a terminal status never changes again):

    IN_PROGRESS  --target COMPLETED-->              SUCCESSFUL
    IN_PROGRESS  --breaker FAILED, no rollback-->   STOPPED
    IN_PROGRESS  --StopServiceDeployment ABORT-->   STOPPED
    IN_PROGRESS  --superseded (UpdateService)-->    STOPPED
    IN_PROGRESS  --DeleteService-->                 STOPPED
    IN_PROGRESS  --breaker rollback / StopServiceDeployment ROLLBACK-->
                 ROLLBACK_IN_PROGRESS --rollback COMPLETED--> ROLLBACK_SUCCESSFUL
                                      --rollback FAILED-->    ROLLBACK_FAILED
"""

from __future__ import annotations

import secrets
from typing import Any

from dockyard.arns import Identity

REVISION_KEY = "_serviceRevision"
DEPLOYMENT_KEY = "_serviceDeployment"
INTERNAL_KEYS = (REVISION_KEY, DEPLOYMENT_KEY)

STATUSES = (
    "PENDING",
    "SUCCESSFUL",
    "STOPPED",
    "STOP_REQUESTED",
    "IN_PROGRESS",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
)
ONGOING = frozenset(
    {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
)
SUCCESSFUL_STATUSES = ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL")

SUPERSEDED_REASON = "Service deployment stopped: a newer service deployment started."
DELETED_REASON = "Service deployment stopped: the service is being deleted."
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: task failed to start."
ROLLBACK_REQUESTED_REASON = "Rollback requested with StopServiceDeployment."
ABORT_REASON = "Service deployment stopped with StopServiceDeployment (ABORT)."

# Revision members copied from the service document when a deployment starts.
_SERVICE_MEMBERS = (
    "capacityProviderStrategy",
    "platformVersion",
    "platformFamily",
    "loadBalancers",
    "serviceRegistries",
    "networkConfiguration",
)


def _names(service: dict[str, Any]) -> tuple[str, str]:
    cluster = str(service["clusterArn"]).rsplit("/", 1)[-1]
    return cluster, str(service["serviceName"])


def revision_arn(identity: Identity, service: dict[str, Any], deployment_id: str) -> str:
    """`.../service-revision/<cluster>/<service>/<digits>`: the digits of `ecs-svc/<digits>`."""
    cluster, name = _names(service)
    digits = deployment_id.rsplit("/", 1)[-1]
    return identity.ecs(f"service-revision/{cluster}/{name}/{digits}")


def new_deployment_arn(identity: Identity, service: dict[str, Any]) -> str:
    """`.../service-deployment/<cluster>/<service>/<22 url-safe characters>` as ECS issues."""
    cluster, name = _names(service)
    return identity.ecs(f"service-deployment/{cluster}/{name}/{secrets.token_urlsafe(16)}")


def new_revision(
    service: dict[str, Any], definition: dict[str, Any], arn: str, now: float
) -> dict[str, Any]:
    """The ServiceRevision of what `service` runs now with `definition`."""
    revision: dict[str, Any] = {
        "serviceRevisionArn": arn,
        "serviceArn": service["serviceArn"],
        "clusterArn": service["clusterArn"],
        "taskDefinition": definition["taskDefinitionArn"],
        "containerImages": [
            {"containerName": c["name"], "image": c["image"]}
            for c in definition.get("containerDefinitions", [])
        ],
        "guardDutyEnabled": False,
        "createdAt": now,
    }
    if "launchType" in service:  # absent when a capacity provider strategy replaces it
        revision["launchType"] = service["launchType"]
    for member in _SERVICE_MEMBERS:
        if service.get(member):
            revision[member] = service[member]
    return revision


def _alarms(config: dict[str, Any]) -> dict[str, Any]:
    alarms = config.get("alarms") or {}
    if not alarms.get("enable"):
        return {"status": "DISABLED"}
    return {"status": "MONITORING", "alarmNames": list(alarms.get("alarmNames", []))}


def new_service_deployment(
    service: dict[str, Any],
    arn: str,
    target: str,
    sources: list[str],
    *,
    threshold: int,
    now: float,
) -> dict[str, Any]:
    """An IN_PROGRESS ServiceDeployment from `sources` to `target` (revision ARNs). The
    controller starts working on it at once, so it is created started (never PENDING)."""
    config = service.get("deploymentConfiguration", {})
    breaker = config.get("deploymentCircuitBreaker", {})
    return {
        "serviceDeploymentArn": arn,
        "serviceArn": service["serviceArn"],
        "clusterArn": service["clusterArn"],
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisions": [{"arn": source} for source in sources],
        "targetServiceRevision": {"arn": target},
        "status": "IN_PROGRESS",
        "deploymentConfiguration": config,
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if breaker.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": threshold,
        },
        "alarms": _alarms(config),
    }


def _finish(doc: dict[str, Any], status: str, now: float, reason: str | None = None) -> None:
    doc["status"] = status
    doc["updatedAt"] = now
    if reason:
        doc["statusReason"] = reason
    if status == "STOPPED":
        doc["stoppedAt"] = now
    else:
        doc["finishedAt"] = now
    breaker = doc.get("deploymentCircuitBreaker", {})
    if breaker.get("status") == "MONITORING":
        breaker["status"] = "MONITORING_COMPLETE"
    alarms = doc.get("alarms", {})
    if alarms.get("status") == "MONITORING":
        alarms["status"] = "MONITORING_COMPLETE"


def completed(doc: dict[str, Any], now: float) -> bool:
    """Its deployment reached steady state: SUCCESSFUL, or ROLLBACK_SUCCESSFUL when that
    deployment was the rollback. False when nothing changed (already terminal)."""
    if doc["status"] not in ONGOING:
        return False
    rolling_back = doc["status"] == "ROLLBACK_IN_PROGRESS"
    _finish(doc, "ROLLBACK_SUCCESSFUL" if rolling_back else "SUCCESSFUL", now)
    return True


def failed(doc: dict[str, Any], reason: str, failures: int, now: float) -> bool:
    """The circuit breaker failed its deployment (no rollback): STOPPED, or
    ROLLBACK_FAILED when the failing deployment was the rollback."""
    if doc["status"] not in ONGOING:
        return False
    rolling_back = doc["status"] == "ROLLBACK_IN_PROGRESS"
    _trip(doc, failures)
    _finish(doc, "ROLLBACK_FAILED" if rolling_back else "STOPPED", now, reason)
    return True


def _trip(doc: dict[str, Any], failures: int) -> None:
    breaker = doc.setdefault("deploymentCircuitBreaker", {"status": "DISABLED"})
    breaker["failureCount"] = max(int(breaker.get("failureCount", 0)), failures)
    if breaker.get("status") == "MONITORING":
        breaker["status"] = "TRIGGERED"


def rollback_started(
    doc: dict[str, Any],
    revision: str,
    reason: str,
    now: float,
    *,
    failures: int | None = None,
) -> bool:
    """A rollback to `revision` began (circuit breaker with `failures`, or requested)."""
    if doc["status"] not in ONGOING or doc["status"] == "ROLLBACK_IN_PROGRESS":
        return False
    if failures is not None:
        _trip(doc, failures)
    doc["status"] = "ROLLBACK_IN_PROGRESS"
    doc["statusReason"] = reason
    doc["updatedAt"] = now
    doc["rollback"] = {"reason": reason, "startedAt": now, "serviceRevisionArn": revision}
    return True


def stopped(doc: dict[str, Any], reason: str, now: float) -> bool:
    """Stopped where it stands (ABORT, or a newer deployment took over)."""
    if doc["status"] not in ONGOING:
        return False
    _finish(doc, "STOPPED", now, reason)
    return True


def public_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    """A service document's deployment entry as DescribeServices shows it."""
    return {k: v for k, v in deployment.items() if k not in INTERNAL_KEYS}


def revisions_in_service(service: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Revision ARN -> the service's deployment entries running it, newest entry first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for deployment in service.get("deployments", []):
        if REVISION_KEY in deployment:
            found.setdefault(deployment[REVISION_KEY], []).append(deployment)
    return found


def brief(doc: dict[str, Any]) -> dict[str, Any]:
    """The ServiceDeploymentBrief ListServiceDeployments returns."""
    out: dict[str, Any] = {
        key: doc[key]
        for key in (
            "serviceDeploymentArn",
            "serviceArn",
            "clusterArn",
            "startedAt",
            "createdAt",
            "finishedAt",
            "status",
            "statusReason",
        )
        if key in doc
    }
    out["targetServiceRevisionArn"] = doc["targetServiceRevision"]["arn"]
    return out
