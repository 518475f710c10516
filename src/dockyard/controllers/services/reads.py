"""What one service step reads from the store, bounded by the service, not the cluster.

tasks       the service's live tasks, held in memory by `tasks.live` (projections of
            their documents kept by every write: no rows read, nothing decoded),
            plus, while the primary deployment is IN_PROGRESS, the primary's newest
            STOPPED tasks (at most STOPPED_READ_LIMIT): all the circuit breaker needs.
            STOPPED tasks of other deployments are never read. Without load
            balancers the live tasks' views themselves are kept between steps
            (`held_task_views`): only tasks written since are looked at again.
instances   REPLICA: only the instances the live tasks are on (a task elsewhere is
            leaving; scale-in ranks by its own tasks' instances), from the cluster
            state in memory (tasks.memory), not from their rows. DAEMON: every
            ACTIVE/DRAINING instance of the cluster (one task per instance).
            Instance documents are decoded once per stored text (`_INSTANCES`).
targets     the service's target groups' rows (services behind load balancers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.controllers.services.model import (
    DeploymentView,
    InstanceView,
    ServiceView,
    TaskView,
)
from dockyard.controllers.services.targets import TaskTargets
from dockyard.lifecycle import LIVE_STATUSES
from dockyard.scheduler import SERVICE_DEFAULT_STRATEGY, compile_query
from dockyard.scheduler.providers import StrategyItem
from dockyard.scheduler.rank import parse_strategy
from dockyard.store import Kind, Tx
from dockyard.tasks.live import Record, live_tasks_of, materialize
from dockyard.tasks.memory import memory_of
from dockyard.tasks.protection import PROTECTION_FIELD, protected_until
from dockyard.tasks.views import instance_view
from dockyard.wire import codec

# ECS's breaker threshold is at most 200 failures; the newest 1,000 STOPPED tasks of the
# primary are ample to find them (the stored count never decreases, see circuit_breaker).
STOPPED_READ_LIMIT = 1000
LIVE = sorted(LIVE_STATUSES)


@dataclass
class Snapshot:
    """What one step read, beyond the reconcile's views."""

    definitions: dict[str, Any]
    task_docs: list[dict[str, Any]]  # live tasks only
    instance_ids: dict[str, str]
    targets: dict[str, TaskTargets]


def service_view(service: dict[str, Any]) -> ServiceView:
    config = service["deploymentConfiguration"]
    breaker = config.get("deploymentCircuitBreaker", {})
    events = service.get("events", [])
    return ServiceView(
        name=service["serviceName"],
        desired_count=int(service["desiredCount"]),
        scheduling_strategy=service["schedulingStrategy"],
        maximum_percent=int(config["maximumPercent"]),
        minimum_healthy_percent=int(config["minimumHealthyPercent"]),
        circuit_breaker_enable=bool(breaker.get("enable")),
        circuit_breaker_rollback=bool(breaker.get("rollback")),
        health_check_grace_s=float(service.get("healthCheckGracePeriodSeconds", 0)),
        status=service["status"],
        last_event=events[0]["message"] if events else None,
        placement_strategy=parse_strategy(
            service.get("placementStrategy") or SERVICE_DEFAULT_STRATEGY
        ),
        capacity_provider_strategy=provider_strategy(service),
    )


def provider_strategy(service: dict[str, Any]) -> tuple[StrategyItem, ...]:
    """The primary deployment's capacity provider strategy (as placement uses it)."""
    primary = [d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"]
    raw = (primary[-1] if primary else {}).get("capacityProviderStrategy") or service.get(
        "capacityProviderStrategy"
    )
    return tuple(
        StrategyItem(str(i["capacityProvider"]), int(i.get("weight", 0)), int(i.get("base", 0)))
        for i in raw or ()
    )


def deployment_views(service: dict[str, Any]) -> list[DeploymentView]:
    return [
        DeploymentView(
            id=d["id"],
            status=d["status"],
            task_definition=d["taskDefinition"],
            rollout_state=d.get("rolloutState", "IN_PROGRESS"),
            created_at=float(d.get("createdAt", 0.0)),
            failed_tasks=int(d.get("failedTasks", 0)),
        )
        for d in service["deployments"]
    ]


def task_rows(
    tx: Tx, service: dict[str, Any], deployments: list[DeploymentView]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(live tasks, the primary's newest STOPPED tasks when its breaker may still count)."""
    group = f"service:{service['serviceName']}"
    live = live_tasks_of(tx).read(tx, service["clusterArn"], group)  # in memory
    return live, stopped_rows(tx, service, deployments)


def stopped_rows(
    tx: Tx, service: dict[str, Any], deployments: list[DeploymentView]
) -> list[dict[str, Any]]:
    """The primary's newest STOPPED tasks while its breaker may still count them."""
    primary = [d for d in deployments if d.status == "PRIMARY"]
    if service["status"] != "ACTIVE" or not primary or primary[-1].rollout_state != "IN_PROGRESS":
        return []
    newest = max(primary, key=lambda d: (d.created_at, d.id))
    where = {"cluster": service["clusterArn"], "task_group": f"service:{service['serviceName']}"}
    return tx.find(
        Kind.TASK,
        # desiredStatus is STOPPED once lastStatus is: equality on the index's 5 columns.
        {**where, "last_status": "STOPPED", "started_by": newest.id, "desired_status": "STOPPED"},
        order_by=("stopped_at",),
        descending=True,
        limit=STOPPED_READ_LIMIT,
    )


def _health(task: dict[str, Any], targets: TaskTargets | None, container_checks: bool) -> str:
    """Load balancer health when the service has one, combined with container health."""
    container = task.get("healthStatus", "UNKNOWN") if container_checks else "HEALTHY"
    if targets is None:
        return container if container_checks else "UNKNOWN"
    if targets.draining:
        return "UNKNOWN"  # leaving its target groups: no longer counts as healthy
    lb = targets.health
    if "UNHEALTHY" in (lb, container):
        return "UNHEALTHY"
    return "HEALTHY" if lb == container == "HEALTHY" else "UNKNOWN"


def task_views(
    tx: Tx,
    rows: list[dict[str, Any]],
    definitions: dict[str, Any],
    targets: dict[str, TaskTargets],
    *,
    balanced: bool,
    now: float,
) -> list[TaskView]:
    checks = _Checks(tx, definitions)
    return [
        _task_view(task, checks(task["taskDefinitionArn"]), targets, balanced=balanced, now=now)
        for task in rows
    ]


def held_task_views(
    tx: Tx, service: dict[str, Any], definitions: dict[str, Any], now: float
) -> list[TaskView] | None:
    """The live tasks' views of a service without load balancers, from the projections
    `tasks.live` holds, ordered by ARN; None when the step's transaction may not share
    them. A view depends on its task's record and its definition's health checks alone
    (no target health, no clock unless the task is protected), so it is made again only
    for a task written since the last step: a settled step of a 1,000-task service no
    longer materializes 1,000 documents and builds 1,000 views (bench/README.md)."""
    cluster, group = service["clusterArn"], f"service:{service['serviceName']}"
    live = live_tasks_of(tx)
    held = live.records(tx, cluster, group)
    if held is None:
        return None
    memo = live.memo(cluster, group)
    checks = _Checks(tx, definitions)
    kept: dict[str, tuple[Record, str, bool, TaskView]] = {}  # record, definition, checks
    out = []
    for arn, record in held:
        hit = memo.get(arn)
        if hit is not None and hit[0] is record and checks(hit[1]) == hit[2]:
            kept[arn] = hit
            out.append(hit[3])
            continue
        task = materialize(record)
        definition = str(task["taskDefinitionArn"])
        known = checks(definition)
        view = _task_view(task, known, {}, balanced=False, now=now)
        if not task.get(PROTECTION_FIELD):  # a protected task's view follows the clock
            kept[arn] = (record, definition, known, view)
        out.append(view)
    memo.clear()  # tasks no longer live leave it
    memo.update(kept)
    return out


class _Checks:
    """Whether a task definition has an essential container with a health check (read
    once per definition per step)."""

    def __init__(self, tx: Tx, definitions: dict[str, Any]) -> None:
        self.tx = tx
        self.definitions = definitions
        self.known: dict[str, bool] = {}

    def __call__(self, arn: str) -> bool:
        found = self.known.get(arn)
        if found is None:
            if arn not in self.definitions:
                self.definitions[arn] = self.tx.get(Kind.TASK_DEFINITION, arn) or {}
            found = self.known[arn] = any(
                c.get("essential", True) and "healthCheck" in c
                for c in self.definitions[arn].get("containerDefinitions", [])
            )
        return found


def _task_view(
    task: dict[str, Any],
    health_known: bool,
    targets: dict[str, TaskTargets],
    *,
    balanced: bool,
    now: float,
) -> TaskView:
    return TaskView(
        arn=task["taskArn"],
        deployment_id=task.get("startedBy", ""),
        last_status=task["lastStatus"],
        desired_status=task["desiredStatus"],
        instance_arn=task.get("containerInstanceArn", ""),
        created_at=float(task.get("createdAt", 0.0)),
        started_at=task.get("startedAt"),
        health=_health(task, targets.get(task["taskArn"]), health_known),
        health_known=health_known or balanced,
        stop_code=task.get("stopCode"),
        protected=protected_until(task, now) is not None,
        capacity_provider=str(task.get("capacityProviderName", "")),
    )


# arn -> (stored JSON text, ec2 instance id, status, attributes, remaining cpu, memory)
_Decoded = tuple[str, str, str, tuple[tuple[str, str], ...], int, int]
_INSTANCES: dict[str, _Decoded] = {}
_INSTANCES_MAX = 20_000


def _decode(arn: str, raw: Any) -> _Decoded:
    cached = _INSTANCES.get(arn)
    if isinstance(raw, str) and cached is not None and cached[0] == raw:
        return cached
    doc = codec.loads(raw) if isinstance(raw, str) else dict(raw)
    view = instance_view(doc)
    decoded = (
        raw if isinstance(raw, str) else "",
        view.instance_id,
        view.status,
        tuple(sorted((k, str(v)) for k, v in view.attributes.items())),
        view.remaining_cpu,
        view.remaining_memory,
    )
    if isinstance(raw, str):
        if len(_INSTANCES) >= _INSTANCES_MAX:
            _INSTANCES.clear()
        _INSTANCES[arn] = decoded
    return decoded


def instance_views(
    tx: Tx, service: dict[str, Any], arns: set[str]
) -> tuple[list[InstanceView], dict[str, str]]:
    """The instances this step needs (see the module docstring; `arns`: those its live
    tasks are on) and their EC2 ids. Called in the step's write transaction: the
    cluster state in memory is its own."""
    if service["schedulingStrategy"] != "DAEMON":  # no rows read (tasks.memory)
        return _live_instance_views(tx, service["clusterArn"], arns)
    where: dict[str, Any] = {"cluster": service["clusterArn"], "status": ["ACTIVE", "DRAINING"]}
    raw_rows = tx.find_raw(Kind.CONTAINER_INSTANCE, where)
    queries = [
        compile_query(c["expression"])
        for c in service.get("placementConstraints", [])
        if c.get("type") == "memberOf" and c.get("expression")
    ]
    instances, ids = [], {}
    for arn, raw in sorted(raw_rows):
        if queries:
            doc = codec.loads(raw) if isinstance(raw, str) else dict(raw)
            subject = memory_of(tx).view(tx, doc)  # capacity: in memory, not in the doc
            eligible = all(q.matches(subject) for q in queries)
        else:
            eligible = True
        _, instance_id, status, attributes, cpu, memory = _decode(arn, raw)
        live_node = memory_of(tx).node(tx, arn)  # remaining cpu/memory live in tasks.memory
        if live_node is not None:
            cpu, memory = live_node.cpu, live_node.memory
        ids[arn] = instance_id
        instances.append(
            InstanceView(
                arn=arn,
                status=status,
                eligible=eligible,
                attributes=attributes,
                remaining_cpu=cpu,
                remaining_memory=memory,
            )
        )
    return instances, ids


def _live_instance_views(
    tx: Tx, cluster_arn: str, arns: set[str]
) -> tuple[list[InstanceView], dict[str, str]]:
    """REPLICA: the ACTIVE/DRAINING instances among `arns`, from the cluster state held
    in memory (`tasks.memory`, kept in step with the store by every write): a step of
    a 1,000-task service read up to 1,000 instance rows for this (bench/README.md)."""
    state = memory_of(tx).state(tx, cluster_arn)  # a service's tasks are in its cluster
    instances, ids = [], {}
    for arn in sorted(arns - {""}):
        if arn not in state:
            continue  # deregistered: its tasks are leaving
        node = state.node(arn)
        ids[arn] = node.instance_id
        instances.append(
            InstanceView(
                arn=arn,
                status=node.status,
                attributes=node.attribute_items(),
                remaining_cpu=node.cpu,
                remaining_memory=node.memory,
            )
        )
    return instances, ids
