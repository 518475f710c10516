"""Services: CreateService, UpdateService, DescribeServices, ListServices, DeleteService.

The API only writes desired state (the service document with its deployments);
the service controller (`controllers/services`) starts and stops the tasks.
Counts (running/pending per service and deployment) are counted from the tasks'
indexed columns when described (no task document is read), so they are never stale.
Every change of a service's desired state queues it for the controller
(`ctx.services_changed`).
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.service_refs import find_service, missing_arn, reuse_name
from dockyard.api.ecs.tags import check_tags
from dockyard.api.ecs.task_definitions import find_task_definition
from dockyard.api.pagination import finish, page_of
from dockyard.context import ApiContext, Params, Result
from dockyard.controllers.services.circuit_breaker import threshold
from dockyard.controllers.services.desired import set_desired_count
from dockyard.errors import (
    ClientException,
    InvalidParameterException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from dockyard.lifecycle import PENDING_STATUSES
from dockyard.scheduler.filters import parse_constraints
from dockyard.scheduler.rank import parse_strategy
from dockyard.services import history, history_records, task_sets
from dockyard.services.documents import new_deployment
from dockyard.store import Kind, Tx
from dockyard.tasks.awsvpc import check_network_configuration
from dockyard.tasks.fargate import check_launch_type
from dockyard.tasks.provider_placement import resolve_strategy

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
DAEMON_PROVIDERS = "Capacity provider strategies are not supported for DAEMON services."
# What UpdateService may change on a service with the EXTERNAL deployment controller (ECS's
# list); the rest is set per task set (api/ecs/task_sets.py).
EXTERNAL_UPDATABLE = {
    "cluster",
    "service",
    "desiredCount",
    "placementConstraints",
    "placementStrategy",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "propagateTags",
}


def deployment_configuration(
    params: Params, daemon: bool, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    given = params.get("deploymentConfiguration") or {}
    base = current or {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 100 if daemon else 200,
        "minimumHealthyPercent": 0 if daemon else 100,
    }
    config = {**base, **given}
    maximum, minimum = config["maximumPercent"], config["minimumHealthyPercent"]
    if not 0 <= minimum <= 100:
        raise InvalidParameterException("minimumHealthyPercent must be between 0 and 100.")
    if not 100 <= maximum <= 400 or (daemon and maximum != 100):
        raise InvalidParameterException(
            "maximumPercent must be 100 for DAEMON services."
            if daemon
            else "maximumPercent must be between 100 and 400."
        )
    breaker = config.get("deploymentCircuitBreaker") or {"enable": False, "rollback": False}
    config["deploymentCircuitBreaker"] = {
        "enable": bool(breaker.get("enable")),
        "rollback": bool(breaker.get("rollback")),
    }
    return config


def active_definition(tx: Tx, ref: str) -> dict[str, Any]:
    doc = find_task_definition(tx, ref)
    if doc is None or doc["status"] != "ACTIVE":
        raise ClientException("TaskDefinition not found.")
    return doc


def check_load_balancers(load_balancers: list[dict[str, Any]], definition: dict[str, Any]) -> None:
    containers = {c["name"]: c for c in definition["containerDefinitions"]}
    for lb in load_balancers:
        name, port = lb.get("containerName"), lb.get("containerPort")
        if name not in containers:
            raise InvalidParameterException(
                f"The container {name} does not exist in the task definition."
            )
        ports = {m.get("containerPort") for m in containers[name].get("portMappings", [])}
        if port not in ports:
            raise InvalidParameterException(
                f"The container {name} did not have a container port {port} defined."
            )


def check_placement(params: Params, daemon: bool) -> None:
    if params.get("placementStrategy") and daemon:
        raise InvalidParameterException(
            "Placement strategies are not supported with the DAEMON scheduling strategy."
        )
    parse_strategy(params.get("placementStrategy", []))
    parse_constraints(params.get("placementConstraints", []))


def _use_providers(docs: list[dict[str, Any]], providers: list[dict[str, Any]]) -> None:
    """A capacity provider strategy replaces launchType on the service and its primary
    deployment (as ECS describes them); [] goes back to launchType EC2."""
    for doc in docs:
        if providers:
            doc.pop("launchType", None)
            doc["capacityProviderStrategy"] = providers
        else:
            doc.pop("capacityProviderStrategy", None)
            doc.setdefault("launchType", "EC2")


def new_service_doc(
    ctx: ApiContext,
    cluster: dict[str, Any],
    params: Params,
    *,
    arn: str,
    desired: int,
    config: dict[str, Any],
    strategy: str = "REPLICA",
    controller: str = "ECS",
    now: float,
) -> dict[str, Any]:
    """A new service's document with what every deployment controller shares; the caller
    adds its own members (ECS: launch type, task definition, deployments; EXTERNAL: task
    sets)."""
    name = params["serviceName"]
    service: dict[str, Any] = {
        "serviceArn": arn,  # service_refs.reuse_name: the caller's ARN format
        "serviceName": name,
        "clusterArn": cluster["clusterArn"],
        "loadBalancers": params.get("loadBalancers", []),
        "serviceRegistries": params.get("serviceRegistries", []),
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": 0,
        "pendingCount": 0,
        "deploymentConfiguration": config,
        "deployments": [],
        "events": [],
        "createdAt": now,
        "placementConstraints": params.get("placementConstraints", []),
        "placementStrategy": params.get("placementStrategy", []),
        "schedulingStrategy": strategy,
        "deploymentController": {"type": controller},
        "createdBy": ctx.identity.iam_root(),
        "enableECSManagedTags": bool(params.get("enableECSManagedTags", False)),
        "propagateTags": params.get("propagateTags", "NONE"),
        "enableExecuteCommand": bool(params.get("enableExecuteCommand", False)),
    }
    for optional in ("role", "healthCheckGracePeriodSeconds"):
        if optional in params:
            service["roleArn" if optional == "role" else optional] = params[optional]
    return service


def save_new_service(tx: Tx, service: dict[str, Any], *, existing: bool) -> None:
    """Write a created service: a new row, or over the INACTIVE one of the same name
    (whose tags go with it)."""
    arn = service["serviceArn"]
    if not existing:
        tx.insert(
            Kind.SERVICE,
            arn,
            service,
            cluster=service["clusterArn"],
            name=service["serviceName"],
            status="ACTIVE",
        )
    else:
        tx.update(Kind.SERVICE, arn, service, status="ACTIVE")
        tx.delete_all_tags(arn)


def create_service(ctx: ApiContext, params: Params) -> Result:
    name = params["serviceName"]
    if not NAME.match(name):
        raise InvalidParameterException(
            "Service name must be 1-255 letters, numbers, hyphens and underscores."
        )
    strategy = params.get("schedulingStrategy", "REPLICA")
    if strategy not in {"REPLICA", "DAEMON"}:
        raise InvalidParameterException("schedulingStrategy must be REPLICA or DAEMON.")
    daemon = strategy == "DAEMON"
    launch_type = params.get("launchType", "EC2")
    if not daemon and "desiredCount" not in params:
        raise InvalidParameterException("desiredCount is required for REPLICA services.")
    if daemon and params.get("desiredCount"):
        raise InvalidParameterException("desiredCount is not supported for DAEMON services.")
    desired = 0 if daemon else params["desiredCount"]
    if desired < 0:
        raise InvalidParameterException("desiredCount must be 0 or more.")
    if "taskDefinition" not in params:
        raise InvalidParameterException("taskDefinition is required.")
    config = deployment_configuration(params, daemon)
    check_placement(params, daemon)
    tags = params.get("tags", [])
    check_tags(tags)
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        if daemon and params.get("capacityProviderStrategy"):
            raise InvalidParameterException(DAEMON_PROVIDERS)
        providers = [] if daemon else resolve_strategy(cluster, params)  # []: launchType
        definition = active_definition(tx, params["taskDefinition"])
        check_load_balancers(params.get("loadBalancers", []), definition)
        check_launch_type(definition, launch_type)  # tasks/fargate.py
        network = check_network_configuration(definition, params.get("networkConfiguration"))
        claim = reuse_name(ctx, tx, cluster, name)
        now = ctx.now()
        deployment = new_deployment(definition["taskDefinitionArn"], desired, now)
        service = new_service_doc(
            ctx, cluster, params, arn=claim.arn, desired=desired, config=config,
            strategy=strategy, now=now,
        )  # fmt: skip
        arn = service["serviceArn"]
        service["launchType"] = launch_type
        service["taskDefinition"] = definition["taskDefinitionArn"]
        service["deployments"] = [deployment]
        if network is not None:
            service["networkConfiguration"] = network
        if providers:
            _use_providers([service, deployment], providers)
        history_records.start(
            tx, ctx.identity, service, deployment, definition, threshold=threshold(desired), now=now
        )
        save_new_service(tx, service, existing=claim.existing)
        tx.put_tags(arn, tags)
        result = {"service": present(tx, service, set())}
    ctx.services_changed({arn})
    return result


RUNNING_BUCKETS = (("running", ["RUNNING"]), ("pending", sorted(PENDING_STATUSES)))


def task_counts(tx: Tx, service: dict[str, Any], started_by: str | None = None) -> dict[str, int]:
    """running/pending of the service's wanted tasks (desiredStatus RUNNING), of one
    deployment or task set when `started_by` (its id) is given: counted on indexed
    columns, never decoded."""
    where = {
        "cluster": service["clusterArn"],
        "task_group": f"service:{service['serviceName']}",
        "desired_status": "RUNNING",
    }
    if started_by is not None:
        where["started_by"] = started_by
    return {
        bucket: tx.count(Kind.TASK, {**where, "last_status": statuses})
        for bucket, statuses in RUNNING_BUCKETS
    }


def _counts(tx: Tx, service: dict[str, Any]) -> dict[str, dict[str, int]]:
    """`task_counts` per deployment id and task set id (EXTERNAL), and for the whole
    service ("*")."""
    ids = [d["id"] for d in service.get("deployments", [])]
    ids += [t["id"] for t in service.get("taskSets", [])]
    return {"*": task_counts(tx, service), **{i: task_counts(tx, service, i) for i in ids}}


def present(tx: Tx, service: dict[str, Any], include: set[str]) -> dict[str, Any]:
    out = dict(service)
    counts = _counts(tx, service)
    total = counts.pop("*")
    deployments = []
    revisions: dict[str, dict[str, Any]] = {}  # currentServiceRevisions, by revision ARN
    for deployment in service.get("deployments", []):
        d = history.public_deployment(deployment)
        c = counts.get(d["id"], {"running": 0, "pending": 0})
        d["runningCount"], d["pendingCount"] = c["running"], c["pending"]
        deployments.append(d)
        if history.REVISION_KEY in deployment:
            arn = deployment[history.REVISION_KEY]
            summary = revisions.setdefault(
                arn,
                {"arn": arn, "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0},
            )
            summary["requestedTaskCount"] += int(d.get("desiredCount", 0))
            summary["runningTaskCount"] += c["running"]
            summary["pendingTaskCount"] += c["pending"]
        if d["status"] == "PRIMARY" and history.DEPLOYMENT_KEY in deployment:
            out["currentServiceDeployment"] = deployment[history.DEPLOYMENT_KEY]
    out["deployments"] = deployments
    if revisions:
        out["currentServiceRevisions"] = list(revisions.values())
    out["runningCount"] = total["running"]
    out["pendingCount"] = total["pending"]
    if task_sets.is_external(service):  # the primary task set's fields, and every task set
        out.update(task_sets.primary_fields(service))
        zero = {"running": 0, "pending": 0}
        out["taskSets"] = [
            task_sets.public(service, t, counts.get(t["id"], zero)) for t in out["taskSets"]
        ]
    if "TAGS" in include:
        out["tags"] = tx.get_tags(service["serviceArn"])
    return out


def update_service(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        service = find_service(ctx, tx, cluster, params["service"])
        if service is None:
            raise ServiceNotFoundException()
        if service["status"] != "ACTIVE":
            raise ServiceNotActiveException("Service was not ACTIVE.")
        daemon = service["schedulingStrategy"] == "DAEMON"
        refused = sorted(
            k for k in params if k not in EXTERNAL_UPDATABLE and params[k] not in (None, False)
        )
        if task_sets.is_external(service) and refused:
            raise InvalidParameterException(
                f"{', '.join(refused)} cannot be updated for a service with the EXTERNAL "
                "deployment controller: create a new task set (CreateTaskSet) instead."
            )
        now = ctx.now()
        for field in ("enableECSManagedTags", "propagateTags"):
            if field in params:
                service[field] = params[field]
        if "desiredCount" in params:
            set_desired_count(service, params["desiredCount"], now)
        if "deploymentConfiguration" in params:
            service["deploymentConfiguration"] = deployment_configuration(
                params, daemon, service["deploymentConfiguration"]
            )
        if "placementStrategy" in params or "placementConstraints" in params:
            check_placement(params, daemon)
            for field in ("placementStrategy", "placementConstraints"):
                if field in params:
                    service[field] = params[field]
        if "healthCheckGracePeriodSeconds" in params:
            service["healthCheckGracePeriodSeconds"] = params["healthCheckGracePeriodSeconds"]
        if "enableExecuteCommand" in params:  # tasks started from now on (as on ECS)
            service["enableExecuteCommand"] = bool(params["enableExecuteCommand"])
        definition = None  # the task definition, read once, when a step needs it
        if params.get("taskDefinition"):
            definition = active_definition(tx, params["taskDefinition"])
            check_load_balancers(service.get("loadBalancers", []), definition)
        current: str = service.get("taskDefinition", "")  # EXTERNAL: its primary task set's
        definition_arn: str = definition["taskDefinitionArn"] if definition else current
        new_revision = definition_arn != current
        wanted = "networkConfiguration" in params or params.get("forceNewDeployment")
        if definition is None and definition_arn and wanted:
            definition = tx.get(Kind.TASK_DEFINITION, definition_arn)
        if params.get("taskDefinition") or "networkConfiguration" in params:  # awsvpc
            network = check_network_configuration(
                definition or {},
                params.get("networkConfiguration", service.get("networkConfiguration")),
            )
            service.pop("networkConfiguration", None)
            if network is not None:
                service["networkConfiguration"] = network
        if "capacityProviderStrategy" in params:  # [] = the cluster's default strategy
            if daemon:
                raise InvalidParameterException(DAEMON_PROVIDERS)
            given = {"capacityProviderStrategy": params["capacityProviderStrategy"] or None}
            _use_providers([service], resolve_strategy(cluster, given))
        # EXTERNAL: no deployments (None); its task sets follow desiredCount
        primary = next((d for d in service["deployments"] if d["status"] == "PRIMARY"), None)
        if primary is not None and (new_revision or params.get("forceNewDeployment")):
            for deployment in service["deployments"]:
                if deployment["status"] == "PRIMARY":
                    deployment["status"] = "ACTIVE"
                    deployment["updatedAt"] = now
            primary = new_deployment(definition_arn, service["desiredCount"], now)
            service["deployments"].insert(0, primary)
            service["taskDefinition"] = definition_arn
            history_records.start(
                tx,
                ctx.identity,
                service,
                primary,
                definition or {"taskDefinitionArn": definition_arn},
                threshold=threshold(int(service["desiredCount"])),
                now=now,
            )
        if primary is not None:
            _use_providers([primary], service.get("capacityProviderStrategy") or [])
            primary["desiredCount"] = service["desiredCount"]
            primary["updatedAt"] = now
        tx.update(Kind.SERVICE, service["serviceArn"], service)
        result = {"service": present(tx, service, set())}
    ctx.services_changed({service["serviceArn"]})
    return result


def describe_services(ctx: ApiContext, params: Params) -> Result:
    refs = params["services"]
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("services must list between 1 and 10 services.")
    include = set(params.get("include", []))
    services, failures = [], []
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        for ref in refs:
            service = find_service(ctx, tx, cluster, ref)
            if service is None:
                failures.append({"arn": missing_arn(ctx, cluster, ref), "reason": "MISSING"})
            else:
                services.append(present(tx, service, include))
    return {"services": services, "failures": failures}


def list_services(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params, default=10, maximum=100)
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        rows = tx.find(
            Kind.SERVICE,
            {"cluster": cluster["clusterArn"], "status": ["ACTIVE", "DRAINING"]},
            after=page.after,
            limit=None if params.get("schedulingStrategy") else page.fetch,
        )
    if params.get("schedulingStrategy"):
        rows = [r for r in rows if r["schedulingStrategy"] == params["schedulingStrategy"]][
            : page.fetch
        ]
    items, token = finish(rows, page, lambda s: [s["serviceArn"]])
    result: Result = {"serviceArns": [s["serviceArn"] for s in items]}
    if token:
        result["nextToken"] = token
    return result


def delete_service(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        service = find_service(ctx, tx, cluster, params["service"])
        if service is None or service["status"] == "INACTIVE":
            raise ServiceNotFoundException()
        if (
            service["status"] == "ACTIVE"
            and service["desiredCount"] > 0
            and service["schedulingStrategy"] == "REPLICA"
            and not params.get("force")
        ):
            raise InvalidParameterException(
                "The service cannot be stopped while it is scaled above 0."
            )
        service["status"] = "DRAINING"
        service["desiredCount"] = 0
        for task_set in service.get("taskSets", []):  # EXTERNAL: every task set drains
            task_set["status"] = "DRAINING"
        history_records.stop_ongoing(tx, service["deployments"], history.DELETED_REASON, ctx.now())
        tx.update(Kind.SERVICE, service["serviceArn"], service, status="DRAINING")
        result = {"service": present(tx, service, set())}
    ctx.services_changed({service["serviceArn"]})
    return result
