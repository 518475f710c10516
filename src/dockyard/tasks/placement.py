"""Placing tasks: store documents -> scheduler -> new task documents, in one transaction.

The scheduler plans on a snapshot of the cluster's instances read in the same
transaction that writes the tasks and their reservations, so two placements can
never over-commit an instance (transactions are serialized by the store).
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.api.context import ApiContext
from dockyard.arns import new_id
from dockyard.metrics.instruments import PLACEMENT_SECONDS, TASK_COUNTS
from dockyard.scheduler import ClusterState, InstanceView, PlacementResult, TaskRequest, place
from dockyard.scheduler.taskdef import task_request_from_definition
from dockyard.store import Kind, Tx
from dockyard.tasks.accounting import count_transition, reservation_for, reserve
from dockyard.tasks.views import instance_view

LIVE_INSTANCE = ["ACTIVE", "DRAINING"]


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


def cluster_state(
    tx: Tx, cluster_arn: str, only: Sequence[str] | None = None
) -> tuple[ClusterState, dict[str, dict[str, Any]]]:
    """The scheduler's view of a cluster (or of `only` these instances of it), and the
    instance documents by ARN - read-only (shared with a cache): copy before changing."""
    where: dict[str, Any] = {"cluster": cluster_arn, "status": LIVE_INSTANCE}
    if only is not None:
        where["arn"] = list(only)
    docs: dict[str, dict[str, Any]] = {}
    views = []
    for arn, raw in tx.find_raw(Kind.CONTAINER_INSTANCE, where):
        doc, view = _decoded(arn, raw)
        docs[arn] = doc  # shared with the cache: read-only, copy before changing
        views.append(view)
    return ClusterState(views), docs


# Decoded instance documents and their scheduler views, keyed by the stored JSON text:
# an unchanged instance is not decoded again (at hundreds of instances per RunTask,
# decoding was most of the server's time).
_DECODED: dict[str, tuple[str, dict[str, Any], InstanceView]] = {}
_DECODED_MAX = 20_000


def _decoded(arn: str, raw: Any) -> tuple[dict[str, Any], InstanceView]:
    if not isinstance(raw, str):  # a backend that hands back decoded JSON
        doc = dict(raw)
        return doc, instance_view(doc)
    cached = _DECODED.get(arn)
    if cached is not None and cached[0] == raw:
        return cached[1], cached[2]
    doc = json.loads(raw)
    view = instance_view(doc)
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[arn] = (raw, doc, view)
    return doc, view


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
    """Place `spec.count` tasks; write them (PROVISIONING) and their reservations."""
    state, docs = cluster_state(tx, cluster["clusterArn"], only_instances)
    request = request_for(spec)
    constraints = list(spec.task_definition.get("placementConstraints", [])) + list(
        spec.constraints
    )
    result = place(
        state, request, spec.count, list(spec.strategy), constraints, rng or random.Random()
    )
    tasks = []
    touched: dict[str, dict[str, Any]] = {}
    for placement in result.placements:
        arn = placement.instance_arn
        if arn not in touched:
            touched[arn] = copy.deepcopy(docs[arn])
        instance = touched[arn]
        task, reservation = new_task(ctx, cluster, instance, spec, request)
        reserve(instance, reservation)
        count_transition(instance, None, task["lastStatus"])
        TASK_COUNTS.moved(cluster["clusterArn"], task["group"], None, task["lastStatus"])
        tx.insert(
            Kind.TASK,
            task["taskArn"],
            task,
            cluster=cluster["clusterArn"],
            instance=instance["containerInstanceArn"],
            family=spec.task_definition["family"],
            started_by=spec.started_by,
            task_group=task["group"],
            desired_status="RUNNING",
            last_status=task["lastStatus"],
            reservation=reservation,
        )
        tx.put_tags(task["taskArn"], list(spec.tags))
        tasks.append(task)
    for arn, instance in touched.items():
        tx.update(Kind.CONTAINER_INSTANCE, arn, instance)
    return tasks, result


def new_task(
    ctx: ApiContext,
    cluster: dict[str, Any],
    instance: dict[str, Any],
    spec: TaskSpec,
    request: TaskRequest,
) -> tuple[dict[str, Any], dict[str, Any]]:
    task_id = new_id()
    cluster_name = cluster["clusterName"]
    task_arn = ctx.identity.ecs(f"task/{cluster_name}/{task_id}")
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
    zone = next(
        (
            a.get("value")
            for a in instance.get("attributes", [])
            if a["name"] == "ecs.availability-zone"
        ),
        None,
    )
    now = ctx.now()
    task: dict[str, Any] = {
        "taskArn": task_arn,
        "clusterArn": cluster["clusterArn"],
        "taskDefinitionArn": definition["taskDefinitionArn"],
        "containerInstanceArn": instance["containerInstanceArn"],
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
    if spec.started_by:
        task["startedBy"] = spec.started_by
    for key, value in (spec.extra or {}).items():
        task[key] = value
    for key in ("cpu", "memory"):
        if key in (spec.overrides or {}):
            task["overrides"][key] = spec.overrides[key]  # type: ignore[index]
    return task, reservation_for(request)
