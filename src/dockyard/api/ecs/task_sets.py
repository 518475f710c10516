"""Task sets: CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet,
UpdateServicePrimaryTaskSet (services with the EXTERNAL deployment controller).

Like the service handlers these only write desired state: the task set entries of the
service document (`services/task_sets.py`). The service controller starts and stops
each set's tasks (startedBy = the set's id) and registers them in the set's own target
groups (`controllers/services/task_set_step.py`). Counts are counted from the tasks'
indexed columns when presented.

Errors: a service that is not EXTERNAL answers InvalidParameterException; a task set
the service does not have, TaskSetNotFoundException; a service being deleted,
ServiceNotActiveException (DescribeTaskSets still answers for it).
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.service_refs import find_service
from dockyard.api.ecs.services import active_definition, check_load_balancers, task_counts
from dockyard.api.ecs.tags import check_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import (
    AwsError,
    InvalidParameterException,
    LimitExceededException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from dockyard.services import task_sets
from dockyard.store import Kind, Tx
from dockyard.tasks.awsvpc import check_network_configuration
from dockyard.tasks.fargate import check_launch_type
from dockyard.tasks.provider_placement import resolve_strategy

NOT_EXTERNAL = (
    "Task sets are only supported for services that use the EXTERNAL deployment "
    "controller (CreateService deploymentController type EXTERNAL)."
)
MAX_TASK_SETS = 5  # per service; two are enough for blue/green, a few for canaries


class TaskSetNotFoundException(AwsError):
    code = "TaskSetNotFoundException"

    def __init__(self, message: str = "The specified task set does not exist.") -> None:
        super().__init__(message)


def _service(
    ctx: ApiContext, tx: Tx, params: Params, *, active: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    cluster = resolve_cluster(tx, params.get("cluster"))
    service = find_service(ctx, tx, cluster, params["service"])
    if service is None or service["status"] == "INACTIVE":
        raise ServiceNotFoundException()
    if not task_sets.is_external(service):
        raise InvalidParameterException(NOT_EXTERNAL)
    if active and service["status"] != "ACTIVE":
        raise ServiceNotActiveException("Service was not ACTIVE.")
    return cluster, service


def _task_set(service: dict[str, Any], ref: str) -> dict[str, Any]:
    found = task_sets.find(service, ref)
    if found is None:
        raise TaskSetNotFoundException()
    return found


def _scale(given: dict[str, Any] | None) -> dict[str, Any]:
    scale = {"value": 100.0, "unit": "PERCENT", **(given or {})}
    if scale["unit"] != "PERCENT":
        raise InvalidParameterException("scale unit must be PERCENT.")
    value = float(scale["value"])
    if not 0.0 <= value <= 100.0:
        raise InvalidParameterException("scale value must be between 0 and 100 percent.")
    return {"value": value, "unit": "PERCENT"}


def present(
    tx: Tx, service: dict[str, Any], task_set: dict[str, Any], include: set[str] | None = None
) -> dict[str, Any]:
    counts = task_counts(tx, service, task_set["id"])
    return task_sets.public(service, task_set, counts, tags="TAGS" in (include or set()))


def _fields(
    tx: Tx, cluster: dict[str, Any], service: dict[str, Any], params: Params
) -> dict[str, Any]:
    """The validated CreateTaskSet members, as the task set stores them."""
    definition = active_definition(tx, params["taskDefinition"])
    load_balancers = params.get("loadBalancers", [])
    if len(load_balancers) > 1:
        raise InvalidParameterException(
            "Multiple target groups are not supported for external deployments."
        )
    for lb in load_balancers:
        group = lb.get("targetGroupArn")
        if not group or tx.get(Kind.TARGET_GROUP, group) is None:
            raise InvalidParameterException(f"Target group '{group}' does not exist.")
    check_load_balancers(load_balancers, definition)
    providers = resolve_strategy(cluster, params)  # [] = launchType
    launch_type = params.get("launchType", "EC2")
    check_launch_type(definition, launch_type)
    network = check_network_configuration(definition, params.get("networkConfiguration"))
    tags = params.get("tags", [])
    check_tags(tags)
    fields: dict[str, Any] = {
        "taskDefinition": definition["taskDefinitionArn"],
        "scale": _scale(params.get("scale")),
        "loadBalancers": load_balancers,
        "serviceRegistries": params.get("serviceRegistries", []),
        "tags": tags,
    }
    if providers:
        fields["capacityProviderStrategy"] = providers
    else:
        fields["launchType"] = launch_type
    for optional in ("externalId", "platformVersion", "clientToken"):
        if params.get(optional):
            fields[optional] = params[optional]
    if network is not None:
        fields["networkConfiguration"] = network
    return fields


def create_task_set(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster, service = _service(ctx, tx, params)
        token = params.get("clientToken")
        for existing in service.get("taskSets", []):
            if token and existing.get("clientToken") == token:  # a retried request
                return {"taskSet": present(tx, service, existing, {"TAGS"})}
        fields = _fields(tx, cluster, service, params)
        if len(task_sets.task_sets(service)) >= MAX_TASK_SETS:
            raise LimitExceededException(f"A service can have at most {MAX_TASK_SETS} task sets.")
        now = ctx.now()
        created = task_sets.new_task_set(service, ctx.identity.ecs, fields, now)
        task_sets.task_sets(service).append(created)
        if created["status"] == "PRIMARY":
            task_sets.make_primary(service, created, now)
        tx.update(Kind.SERVICE, service["serviceArn"], service)
        result = {"taskSet": present(tx, service, created, {"TAGS"})}
    ctx.services_changed({service["serviceArn"]})
    return result


def describe_task_sets(ctx: ApiContext, params: Params) -> Result:
    include = set(params.get("include", []))
    with ctx.store.read() as tx:
        _, service = _service(ctx, tx, params, active=False)
        refs = params.get("taskSets")
        if not refs:  # absent or empty: every task set of the service
            shown = [present(tx, service, t, include) for t in service.get("taskSets", [])]
            return {"taskSets": shown, "failures": []}
        found, failures = [], []
        for ref in refs:
            task_set = task_sets.find(service, ref)
            if task_set is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(present(tx, service, task_set, include))
    return {"taskSets": found, "failures": failures}


def update_task_set(ctx: ApiContext, params: Params) -> Result:
    scale = _scale(params["scale"])
    with ctx.store.transaction() as tx:
        _, service = _service(ctx, tx, params)
        task_set = _task_set(service, params["taskSet"])
        if task_set["status"] == "DRAINING":
            raise InvalidParameterException("The task set is DRAINING and cannot be updated.")
        now = ctx.now()
        task_set["scale"] = scale
        task_set["updatedAt"] = now
        tx.update(Kind.SERVICE, service["serviceArn"], service)
        result = {"taskSet": present(tx, service, task_set)}
    ctx.services_changed({service["serviceArn"]})
    return result


def update_service_primary_task_set(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        _, service = _service(ctx, tx, params)
        task_set = _task_set(service, params["primaryTaskSet"])
        if task_set["status"] == "DRAINING":
            raise InvalidParameterException(
                "The task set is DRAINING and cannot become the primary task set."
            )
        if task_set["status"] != "PRIMARY":
            task_sets.make_primary(service, task_set, ctx.now())
            tx.update(Kind.SERVICE, service["serviceArn"], service)
        result = {"taskSet": present(tx, service, task_set)}
    ctx.services_changed({service["serviceArn"]})
    return result


def delete_task_set(ctx: ApiContext, params: Params) -> Result:
    """DRAINING: the controller stops its tasks (targets deregistered first) and then
    removes it. Without `force`, only a task set scaled down to zero tasks."""
    with ctx.store.transaction() as tx:
        _, service = _service(ctx, tx, params)
        task_set = _task_set(service, params["taskSet"])
        if task_set["status"] != "DRAINING":
            if task_sets.computed_desired_count(service, task_set) > 0 and not params.get("force"):
                raise InvalidParameterException(
                    "The task set cannot be deleted until it is scaled down to 0 tasks; "
                    "scale it to 0 percent with UpdateTaskSet or delete it with force."
                )
            now = ctx.now()
            task_set["status"] = "DRAINING"
            task_set["stabilityStatus"] = task_sets.STABILIZING
            task_set["stabilityStatusAt"] = now
            task_set["updatedAt"] = now
            tx.update(Kind.SERVICE, service["serviceArn"], service)
        result = {"taskSet": present(tx, service, task_set)}
    ctx.services_changed({service["serviceArn"]})
    return result
