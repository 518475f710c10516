"""Placing tasks: in-memory cluster state -> scheduler -> new task documents, in one
transaction.

The scheduler plans on the cluster's live `ClusterState` (`tasks.memory`): no store
read, no instance document decoded. `place` commits each placement into that state
as it goes, so the next task (and the next call in the same transaction) sees it;
this module then writes the task rows and, once per touched instance, its capacity
row, in the caller's transaction. Transactions are serialized by the store and run
one at a time, so a plan cannot be overtaken before it commits; a rollback drops the
cluster's state (it reloads from the store).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.accounts.records import long_arn_format
from dockyard.arns import new_id
from dockyard.context import ApiContext
from dockyard.metrics.instruments import PLACEMENT_SECONDS
from dockyard.scheduler import ClusterState, PlacementResult, TaskRequest, place
from dockyard.scheduler.providers import FARGATE_PROVIDERS
from dockyard.scheduler.taskdef import task_request_from_definition
from dockyard.store import Kind, Tx
from dockyard.tasks import awsvpc
from dockyard.tasks import provider_placement as providers
from dockyard.tasks.accounting import reservation_for
from dockyard.tasks.memory import memory_of
from dockyard.tasks.reports import count_moved

AZ_ATTRIBUTE = "ecs.availability-zone"


@dataclass
class TaskSpec:
    """What to start: a task definition, how many, and the ECS options of RunTask."""

    task_definition: dict[str, Any]
    count: int = 1
    overrides: dict[str, Any] | None = None
    group: str | None = None
    started_by: str | None = None
    strategy: Sequence[dict[str, Any]] = ()
    constraints: Sequence[dict[str, Any]] = ()
    tags: Sequence[dict[str, str]] = ()
    extra: dict[str, Any] | None = None
    network_configuration: dict[str, Any] | None = None  # awsvpc (tasks/awsvpc.py)
    # capacityProviderStrategy (normalized, checked): [] places by launchType. keep_split:
    # bases and weights count the group's wanted tasks (services), not just this call.
    capacity_provider_strategy: Sequence[dict[str, Any]] = ()
    keep_split: bool = False


def request_for(spec: TaskSpec) -> TaskRequest:
    return task_request_from_definition(spec.task_definition, spec.overrides, spec.group)


@PLACEMENT_SECONDS.time()
def place_tasks(
    ctx: ApiContext,
    tx: Tx,
    cluster: dict[str, Any],
    spec: TaskSpec,
    *,
    rng: random.Random | None = None,
    only_instances: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], PlacementResult]:
    """Place `spec.count` tasks; write them (PROVISIONING) and their instances' capacity.

    `only_instances` restricts the choice (StartTask, DAEMON services): those are
    planned on a small copy, and the placements then committed to the live state.
    """
    memory = memory_of(tx)
    cluster_arn = cluster["clusterArn"]
    state = memory.state(tx, cluster_arn)
    plan = state
    if only_instances is not None:
        plan = ClusterState(state.view(arn) for arn in only_instances if arn in state)
    request = request_for(spec)
    constraints = list(spec.task_definition.get("placementConstraints", [])) + list(
        spec.constraints
    )
    constraints += awsvpc.implicit_constraints(spec.task_definition)
    rng = rng or random.Random()
    if spec.capacity_provider_strategy:
        split = providers.shares(
            tx,
            cluster_arn,
            spec.capacity_provider_strategy,
            spec.count,
            request.group,
            keep_split=spec.keep_split,
            started_by=spec.started_by,
        )
        results = []
        provider_of: list[str | None] = []
        for name, count in split:  # each share on its provider's instances
            share_constraints = providers.share_constraints(name, constraints)
            share = place(plan, request, count, list(spec.strategy), share_constraints, rng)
            results.append(share)
            provider_of += [name] * len(share.placements)
        result = merge_results(results)
    else:
        result = place(plan, request, spec.count, list(spec.strategy), constraints, rng)
        provider_of = [None] * len(result.placements)
    memory.guard(tx, cluster_arn)
    if plan is not state:
        for placement in result.placements:
            state.commit(placement.instance_arn, placement.request)
    tasks = []
    rows = []
    touched: set[str] = set()
    long_arn = long_arn_format(tx, ctx.identity, "task") if result.placements else True
    for placement, provider in zip(result.placements, provider_of, strict=True):
        arn = placement.instance_arn
        touched.add(arn)
        zone = state.node(arn).attributes.get(AZ_ATTRIBUTE)
        task, reservation = new_task(ctx, cluster, arn, spec, request, zone=zone, long_arn=long_arn)
        if provider is not None:
            task["capacityProviderName"] = provider
            task["launchType"] = "FARGATE" if provider in FARGATE_PROVIDERS else "EC2"
        count_moved(tx, cluster_arn, task["group"], None, task["lastStatus"])
        columns = {
            "cluster": cluster_arn,
            "instance": arn,
            "family": spec.task_definition["family"],
            "started_by": spec.started_by,
            "task_group": task["group"],
            "desired_status": "RUNNING",
            "last_status": task["lastStatus"],
            "reservation": reservation,
            "capacity_provider": provider,
        }
        rows.append((task["taskArn"], task, columns))
        tasks.append(task)
    tx.insert_many(Kind.TASK, rows)  # one statement for the batch (a scale-up step: hundreds)
    if spec.tags:
        for task in tasks:
            tx.put_tags(task["taskArn"], list(spec.tags))
    memory.write_many(tx, cluster_arn, sorted(touched))
    return tasks, result


def merge_results(results: Sequence[PlacementResult]) -> PlacementResult:
    """One result for the shares of a capacity provider strategy: every placement, the
    failures of the first share that left tasks unplaced, and the unplaced total."""
    failed = [r for r in results if r.unplaced]
    return PlacementResult(
        placements=[p for r in results for p in r.placements],
        failures=failed[0].failures if failed else [],
        unplaced=sum(r.unplaced for r in results),
        closest=next((r.closest for r in failed if r.closest is not None), None),
    )


def new_task(
    ctx: ApiContext,
    cluster: dict[str, Any],
    instance_arn: str,
    spec: TaskSpec,
    request: TaskRequest,
    *,
    zone: str | None = None,
    long_arn: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`long_arn`: task/<cluster>/<id>, else AWS's short task/<id> (taskLongArnFormat)."""
    task_id = new_id()
    cluster_name = cluster["clusterName"]
    task_arn = ctx.identity.ecs_scoped("task", cluster_name, task_id, long=long_arn)
    definition = spec.task_definition
    overrides = {o["name"]: o for o in (spec.overrides or {}).get("containerOverrides", [])}
    containers = []
    for container in definition["containerDefinitions"]:
        override = overrides.get(container["name"], {})
        entry: dict[str, Any] = {
            "containerArn": ctx.identity.ecs(f"container/{cluster_name}/{task_id}/{uuid.uuid4()}"),
            "taskArn": task_arn,
            "name": container["name"],
            "image": container["image"],
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [],
            "healthStatus": "UNKNOWN",
            "cpu": str(override.get("cpu", container.get("cpu", 0))),
        }
        memory = override.get("memory", container.get("memory"))
        reservation = override.get("memoryReservation", container.get("memoryReservation"))
        if memory is not None:
            entry["memory"] = str(memory)
        if reservation is not None:
            entry["memoryReservation"] = str(reservation)
        containers.append(entry)
    now = ctx.now()
    task: dict[str, Any] = {
        "taskArn": task_arn,
        "clusterArn": cluster["clusterArn"],
        "taskDefinitionArn": definition["taskDefinitionArn"],
        "containerInstanceArn": instance_arn,
        "overrides": {
            "containerOverrides": list((spec.overrides or {}).get("containerOverrides", [])),
            "inferenceAcceleratorOverrides": [],
        },
        "lastStatus": "PROVISIONING",
        "desiredStatus": "RUNNING",
        "cpu": str(request.cpu),
        "memory": str(request.memory),
        "containers": containers,
        "version": 1,
        "connectivity": "CONNECTED",
        "connectivityAt": now,
        "createdAt": now,
        "group": request.group,
        "launchType": "EC2",
        "attachments": [],
        "attributes": [],
        "enableExecuteCommand": False,
        "healthStatus": "UNKNOWN",
        "tags": list(spec.tags),
    }
    if zone:
        task["availabilityZone"] = zone
    if awsvpc.is_awsvpc(definition):
        task["attachments"] = [awsvpc.precreated_attachment(spec.network_configuration, task_id)]
    if spec.started_by:
        task["startedBy"] = spec.started_by
    for key, value in (spec.extra or {}).items():
        task[key] = value
    for key in ("cpu", "memory"):
        if key in (spec.overrides or {}):
            task["overrides"][key] = spec.overrides[key]  # type: ignore[index]
    return task, reservation_for(request)
