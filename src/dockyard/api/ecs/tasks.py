"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

Placement happens in the request's transaction (see `dockyard.tasks.placement`);
the agents learn of new or stopping tasks through `ctx.desired_changed`, which
pushes each affected instance its full desired task set.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.instance_refs import instance_arn, locate_instance
from dockyard.api.ecs.tags import check_tags
from dockyard.api.ecs.task_definitions import find_task_definition
from dockyard.api.pagination import finish, page_of
from dockyard.arns import parse_arn, resource_id
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import ClientException, InvalidParameterException
from dockyard.lifecycle import StopCode
from dockyard.scheduler.model import ENI_GROUP
from dockyard.store import Kind, Tx
from dockyard.tasks.awsvpc import check_network_configuration
from dockyard.tasks.fargate import check_launch_type
from dockyard.tasks.memory import memory_of
from dockyard.tasks.placement import TaskSpec, place_tasks
from dockyard.tasks.provider_placement import resolve_strategy
from dockyard.tasks.reports import request_stop

MAX_STRATEGIES = 5
MAX_CONSTRAINTS = 10


def find_task(
    ctx: ApiContext, cluster: dict[str, Any], ref: str, tx: Tx
) -> tuple[str, dict[str, Any] | None]:
    """The task `ref` (an id, or a long or short ARN) names in this cluster: its ARN and
    its document (None: no such task; the ARN is then the long form). A task created with
    the short format (taskLongArnFormat disabled) is found by its id or short ARN too:
    one `tx.get` of the long ARN, a second of the short one only when that misses."""
    arn = parse_arn(ref)
    if arn is not None:
        if arn.resource_type != "task":
            raise InvalidParameterException(f"'{ref}' is not a task ARN.")
        ref = resource_id(arn)
    long = ctx.identity.ecs_scoped("task", cluster["clusterName"], ref)
    doc = tx.get(Kind.TASK, long)
    if doc is not None:
        return long, doc
    short = ctx.identity.ecs_scoped("task", cluster["clusterName"], ref, long=False)
    doc = tx.get(Kind.TASK, short)
    if doc is not None and doc.get("clusterArn") == cluster["clusterArn"]:
        return short, doc
    return long, None


def _definition(tx: Tx, ref: str) -> dict[str, Any]:
    doc = find_task_definition(tx, ref)
    if doc is None or doc["status"] == "DELETE_IN_PROGRESS":
        raise ClientException("Unable to find task definition.")
    if doc["status"] != "ACTIVE" and ":" not in ref.rsplit("/", 1)[-1]:
        raise ClientException("TaskDefinition is inactive")
    return doc


def _spec(tx: Tx, params: Params, count: int) -> TaskSpec:
    strategy = params.get("placementStrategy", [])
    constraints = params.get("placementConstraints", [])
    if len(strategy) > MAX_STRATEGIES:
        raise InvalidParameterException("At most 5 placement strategies can be given.")
    if len(constraints) > MAX_CONSTRAINTS:
        raise InvalidParameterException("At most 10 placement constraints can be given.")
    started_by = params.get("startedBy")
    if started_by is not None and len(started_by) > 36:
        raise InvalidParameterException("startedBy can be up to 36 characters.")
    if params.get("group") == ENI_GROUP:  # the scheduler's count of awsvpc addresses
        raise InvalidParameterException(f"The task group name {ENI_GROUP} is reserved.")
    tags = params.get("tags", [])
    check_tags(tags)
    definition = _definition(tx, params["taskDefinition"])
    launch_type = params.get("launchType", "EC2")
    check_launch_type(definition, launch_type)  # tasks/fargate.py
    network = check_network_configuration(definition, params.get("networkConfiguration"))
    overrides = params.get("overrides") or {}
    names = {c["name"] for c in definition["containerDefinitions"]}
    for override in overrides.get("containerOverrides", []):
        if override.get("name") not in names:
            raise InvalidParameterException(
                f"Override for container '{override.get('name')}' does not match any container "
                "of the task definition."
            )
    spec = TaskSpec(
        task_definition=definition,
        count=count,
        overrides=overrides,
        group=params.get("group"),
        started_by=started_by,
        strategy=strategy,
        constraints=constraints,
        tags=tags,
        # ExecuteCommand is refused on tasks run without it (api/ecs/execute_command.py)
        extra={"enableExecuteCommand": True} if params.get("enableExecuteCommand") else None,
        network_configuration=network,  # awsvpc (tasks/awsvpc.py)
    )
    if launch_type == "FARGATE":
        spec.extra = {**(spec.extra or {}), "launchType": "FARGATE"}
    return spec


def run_task(ctx: ApiContext, params: Params) -> Result:
    count = params.get("count", 1)
    if not 1 <= count <= 10:
        raise InvalidParameterException("count must be between 1 and 10.")
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        providers = resolve_strategy(cluster, params)  # before _spec: both given is refused
        spec = _spec(tx, params, count)
        spec.capacity_provider_strategy = providers
        if not len(memory_of(tx).state(tx, cluster["clusterArn"])):
            raise InvalidParameterException("No Container Instances were found in your cluster.")
        tasks, result = place_tasks(ctx, tx, cluster, spec, rng=ctx.rng())
    ctx.desired_changed(
        {t["containerInstanceArn"] for t in tasks}, docs={t["taskArn"]: t for t in tasks}
    )
    return {"tasks": tasks, "failures": [f.to_dict() for f in result.failures]}


def start_task(ctx: ApiContext, params: Params) -> Result:
    refs = params["containerInstances"]
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("containerInstances must list between 1 and 10 instances.")
    tasks: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        spec = _spec(tx, params, 1)
        for ref in refs:
            arn, doc = locate_instance(ctx, tx, cluster, ref)
            if doc is None or doc["status"] not in {"ACTIVE", "DRAINING"}:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            placed, result = place_tasks(
                ctx, tx, cluster, spec, rng=ctx.rng(), only_instances=[arn]
            )
            tasks.extend(placed)
            failures.extend(f.to_dict() for f in result.failures)
    ctx.desired_changed(
        {t["containerInstanceArn"] for t in tasks}, docs={t["taskArn"]: t for t in tasks}
    )
    return {"tasks": tasks, "failures": failures}


def stop_task(ctx: ApiContext, params: Params) -> Result:
    reason = params.get("reason") or "Task stopped by user"
    if len(reason) > 255:
        raise InvalidParameterException("reason can be up to 255 characters.")
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        arn, found = find_task(ctx, cluster, params["task"], tx)
        code = StopCode.USER_INITIATED.value
        task = None if found is None else request_stop(tx, arn, reason, code, ctx.now())
        if task is None:
            raise InvalidParameterException("The referenced task was not found.")
    if task.get("containerInstanceArn"):
        ctx.desired_changed({task["containerInstanceArn"]}, [task["taskArn"]])
    task.pop("_scaleInProtection", None)  # internal (tasks/protection.py)
    return {"task": task}


def describe_tasks(ctx: ApiContext, params: Params) -> Result:
    refs = params["tasks"]
    if len(refs) > 100:
        raise InvalidParameterException("tasks can list at most 100 tasks.")
    include_tags = "TAGS" in params.get("include", [])
    tasks, failures = [], []
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        for ref in refs:
            arn, task = find_task(ctx, cluster, ref, tx)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            task.pop("tags", None)
            task.pop("_scaleInProtection", None)  # internal (tasks/protection.py)
            if include_tags:
                task["tags"] = tx.get_tags(arn)
            tasks.append(task)
    return {"tasks": tasks, "failures": failures}


def list_tasks(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params)
    desired = params.get("desiredStatus", "RUNNING")
    if desired not in {"RUNNING", "PENDING", "STOPPED"}:
        raise InvalidParameterException("desiredStatus must be RUNNING, PENDING or STOPPED.")
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        where: dict[str, Any] = {"cluster": cluster["clusterArn"]}
        if desired == "PENDING":
            where["desired_status"] = "RUNNING"
            where["last_status"] = ["PROVISIONING", "PENDING", "ACTIVATING"]
        else:
            where["desired_status"] = desired
        if params.get("containerInstance"):
            where["instance"] = instance_arn(ctx, tx, cluster, params["containerInstance"])
        if params.get("family"):
            where["family"] = params["family"]
        if params.get("startedBy"):
            where["started_by"] = params["startedBy"]
        if params.get("serviceName"):
            name = params["serviceName"]
            parsed = parse_arn(name)
            where["task_group"] = "service:" + (
                parsed.resource.rsplit("/", 1)[-1] if parsed else name
            )
        # ARNs only, from the indexed columns: no task document is read.
        keys = tx.find_keys(Kind.TASK, where, after=page.after, limit=page.fetch)
    items, token = finish(keys, page, lambda arn: [arn])
    result: Result = {"taskArns": list(items)}
    if token:
        result["nextToken"] = token
    return result
