"""The service controller's thin loop: read fresh state, reconcile, apply the plan.

Every tick, for each ACTIVE or DRAINING service: one transaction reads the
service, its tasks (group `service:NAME`, including recently STOPPED ones for the
circuit breaker) and the cluster's instances, calls the pure `reconcile`, and
applies the plan in the same transaction: starts are placed through the
scheduler (`tasks.placement.place_tasks`), stops go through
`tasks.reports.request_stop`, deployments and events are written to the service
document. Agents of touched instances are then told (level-triggered push).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from dockyard.api.context import ApiContext
from dockyard.api.ecs.services import add_event, new_deployment
from dockyard.api.ecs.task_protection import protected_until
from dockyard.controllers.services.model import (
    DeploymentView,
    InstanceView,
    Plan,
    ServiceView,
    TaskView,
)
from dockyard.controllers.services.reconcile import reconcile
from dockyard.controllers.services.targets import (
    TaskTargets,
    release_before_stop,
    sync_registrations,
    targets_by_task,
)
from dockyard.lifecycle import StopCode
from dockyard.metrics.instruments import RECONCILE_SECONDS
from dockyard.scheduler import SERVICE_DEFAULT_STRATEGY, compile_query
from dockyard.scheduler.rank import parse_strategy
from dockyard.store import Kind, Tx
from dockyard.tasks.placement import TaskSpec, place_tasks
from dockyard.tasks.reports import request_stop
from dockyard.tasks.views import instance_view

log = logging.getLogger("dockyard.controllers.services")
INTERVAL_S = 0.5
WAKE_DEBOUNCE_S = 0.02


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


@dataclass
class Snapshot:
    """What one step read, beyond the reconcile's views."""

    definitions: dict[str, Any]
    task_docs: list[dict[str, Any]]
    instance_ids: dict[str, str]
    targets: dict[str, TaskTargets]


def _views(
    tx: Tx, service: dict[str, Any], ctx_now: float
) -> tuple[ServiceView, list[DeploymentView], list[TaskView], list[InstanceView], Snapshot]:
    config = service["deploymentConfiguration"]
    breaker = config.get("deploymentCircuitBreaker", {})
    events = service.get("events", [])
    view = ServiceView(
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
    )
    deployments = [
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
    definitions: dict[str, Any] = {}
    for d in deployments:
        definitions[d.task_definition] = tx.get(Kind.TASK_DEFINITION, d.task_definition) or {}
    rows = tx.find(
        Kind.TASK,
        {"cluster": service["clusterArn"], "task_group": f"service:{service['serviceName']}"},
    )
    balanced = bool(service.get("loadBalancers"))
    targets = targets_by_task(tx, service) if balanced else {}
    tasks = []
    for task in rows:
        arn = task["taskDefinitionArn"]
        if arn not in definitions:
            definitions[arn] = tx.get(Kind.TASK_DEFINITION, arn) or {}
        definition = definitions[arn]
        health_known = any(
            c.get("essential", True) and "healthCheck" in c
            for c in definition.get("containerDefinitions", [])
        )
        tasks.append(
            TaskView(
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
                protected=protected_until(task, ctx_now) is not None,
            )
        )
    queries = [
        compile_query(c["expression"])
        for c in service.get("placementConstraints", [])
        if c.get("type") == "memberOf" and c.get("expression")
    ]
    instances = []
    instance_ids: dict[str, str] = {}
    for doc in tx.find(
        Kind.CONTAINER_INSTANCE,
        {"cluster": service["clusterArn"], "status": ["ACTIVE", "DRAINING"]},
    ):
        instance_ids[doc["containerInstanceArn"]] = doc["ec2InstanceId"]
        subject = instance_view(doc)
        instances.append(
            InstanceView(
                arn=doc["containerInstanceArn"],
                status=doc["status"],
                eligible=all(q.matches(subject) for q in queries),
                agent_connected=bool(doc.get("agentConnected")),
                attributes=tuple(sorted((k, str(v)) for k, v in subject.attributes.items())),
                remaining_cpu=subject.remaining_cpu,
                remaining_memory=subject.remaining_memory,
            )
        )
    return view, deployments, tasks, instances, Snapshot(definitions, rows, instance_ids, targets)


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


def _apply_deployments(service: dict[str, Any], plan: Plan, now: float) -> None:
    by_id = {d["id"]: d for d in service["deployments"]}
    for change in plan.deployments:
        if change.new_task_definition is not None:
            created = new_deployment(
                change.new_task_definition, int(service["desiredCount"]), now, change.id
            )
            service["deployments"].insert(0, created)
            service["taskDefinition"] = change.new_task_definition
            by_id[change.id] = created
        found = by_id.get(change.id)
        if found is None:
            continue
        deployment = found
        if change.status == "INACTIVE":
            service["deployments"].remove(deployment)
            continue
        if change.status is not None:
            deployment["status"] = change.status
        if change.rollout_state is not None:
            deployment["rolloutState"] = change.rollout_state
            deployment["rolloutStateReason"] = change.rollout_state_reason or (
                f"ECS deployment {deployment['id']} completed."
                if change.rollout_state == "COMPLETED"
                else deployment.get("rolloutStateReason", "")
            )
        if change.failed_tasks is not None:
            deployment["failedTasks"] = change.failed_tasks
        deployment["updatedAt"] = now
    for deployment in service["deployments"]:
        deployment["desiredCount"] = (
            int(service["desiredCount"]) if deployment["status"] == "PRIMARY" else 0
        )


@RECONCILE_SECONDS.time()
def step(ctx: ApiContext, service_arn: str) -> set[str]:
    """One reconcile step for one service; returns the instances whose tasks changed."""
    touched: set[str] = set()
    with ctx.store.transaction() as tx:
        service = tx.get(Kind.SERVICE, service_arn)
        if service is None or service["status"] == "INACTIVE":
            return touched
        cluster = tx.get(Kind.CLUSTER, service["clusterArn"])
        if cluster is None:
            return touched
        now = ctx.now()
        view, deployments, tasks, instances, snapshot = _views(tx, service, now)
        plan = reconcile(view, deployments, tasks, instances, now)
        before = repr(service)
        _apply_deployments(service, plan, now)
        for message in plan.events:
            add_event(service, message, now)
        stopped = []
        deregistered: dict[str, int] = {}
        for stop in plan.stop:
            if service.get("loadBalancers"):
                may_stop, released = release_before_stop(tx, stop.task_arn, snapshot.targets, now)
                for group, count in released.items():
                    deregistered[group] = deregistered.get(group, 0) + count
                if not may_stop:
                    continue  # draining in its target groups; stopped once drained
            reason = stop.reason
            targets = snapshot.targets.get(stop.task_arn)
            if targets is not None and targets.health == "UNHEALTHY" and "health checks" in reason:
                groups = sorted({r["target_group"] for r in targets.rows})
                reason = f"Task failed ELB health checks in (target-group {groups[0]})"
            task = request_stop(
                tx, stop.task_arn, reason, StopCode.SERVICE_SCHEDULER_INITIATED.value, now
            )
            if task is not None:
                stopped.append(stop.task_arn)
                touched.add(task.get("containerInstanceArn", ""))
        if stopped:
            add_event(
                service,
                f"(service {view.name}) has stopped {len(stopped)} running tasks: "
                + " ".join(f"(task {_task_id(a)})." for a in stopped),
                now,
            )
        started = _start(ctx, tx, cluster, service, plan, definitions=snapshot.definitions, now=now)
        touched.update(t["containerInstanceArn"] for t in started)
        if service.get("loadBalancers"):
            # Tasks stopped in this pass were read as RUNNING: never register them again.
            just_stopped = set(stopped)
            current = [t for t in snapshot.task_docs if t["taskArn"] not in just_stopped]
            registered, gone = sync_registrations(
                tx, service, current, snapshot.instance_ids, snapshot.targets, now=now
            )
            for group, count in gone.items():
                deregistered[group] = deregistered.get(group, 0) + count
            for group, count in registered.items():
                add_event(
                    service, f"(service {view.name}) registered {count} targets in ({group})", now
                )
            for group, count in deregistered.items():
                add_event(
                    service,
                    f"(service {view.name}) deregistered {count} targets in ({group})",
                    now,
                )
            if registered or deregistered:
                ctx.lb_changed()
        if service["schedulingStrategy"] == "DAEMON":
            service["desiredCount"] = sum(
                1 for i in instances if i.status == "ACTIVE" and i.eligible
            )
        if service["status"] == "DRAINING" and not any(t.live for t in tasks) and not started:
            service["status"] = "INACTIVE"
            service["deployments"] = [d for d in service["deployments"] if d["status"] == "PRIMARY"]
        if repr(service) != before:
            tx.update(Kind.SERVICE, service_arn, service, status=service["status"])
    return touched


def _start(
    ctx: ApiContext,
    tx: Tx,
    cluster: dict[str, Any],
    service: dict[str, Any],
    plan: Plan,
    *,
    definitions: dict[str, Any],
    now: float,
) -> list[dict[str, Any]]:
    started: list[dict[str, Any]] = []
    by_id = {d["id"]: d for d in service["deployments"]}
    name = service["serviceName"]
    for start in plan.start:
        deployment = by_id.get(start.deployment_id)
        if deployment is None or start.count <= 0:
            continue
        definition = definitions.get(deployment["taskDefinition"]) or (
            tx.get(Kind.TASK_DEFINITION, deployment["taskDefinition"]) or {}
        )
        if not definition:
            continue
        propagate = service.get("propagateTags") == "SERVICE"
        tags = tx.get_tags(service["serviceArn"]) if propagate else []
        spec = TaskSpec(
            task_definition=definition,
            count=start.count,
            group=f"service:{name}",
            started_by=deployment["id"],
            strategy=service.get("placementStrategy") or SERVICE_DEFAULT_STRATEGY,
            constraints=service.get("placementConstraints", []),
            tags=tags,
        )
        only = [start.instance_arn] if start.instance_arn else None
        tasks, result = place_tasks(ctx, tx, cluster, spec, rng=ctx.rng(), only_instances=only)
        started.extend(tasks)
        message = result.event_message(name)
        if message and (not service.get("events") or service["events"][0]["message"] != message):
            add_event(service, message, now)
    if started:
        add_event(
            service,
            f"(service {name}) has started {len(started)} tasks: "
            + " ".join(f"(task {_task_id(t['taskArn'])})." for t in started),
            now,
        )
    return started


async def run(ctx: ApiContext, interval_s: float = INTERVAL_S) -> None:
    """Tick every interval, and sooner when agents report task changes (debounced)."""
    wake = asyncio.Event()
    ctx.on_task_change = wake.set
    while True:
        try:
            with ctx.store.read() as tx:
                arns = [
                    s["serviceArn"]
                    for s in tx.find(Kind.SERVICE, {"status": ["ACTIVE", "DRAINING"]})
                ]
            touched: set[str] = set()
            for arn in arns:
                try:
                    touched |= step(ctx, arn)
                except Exception:
                    log.exception("service %s: reconcile step failed; retrying", arn)
            ctx.desired_changed(touched)
        except Exception:
            log.exception("service controller pass failed; retrying")
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval_s)
        await asyncio.sleep(WAKE_DEBOUNCE_S)  # let a burst of reports land together
