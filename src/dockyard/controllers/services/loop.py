"""One service step: read what the service depends on, reconcile, apply the plan.

`step(ctx, service_arn)` is the unit of work the runner (`runner.py`) calls for each
key of its queue. One transaction reads the service, its live tasks, the primary's
newest STOPPED tasks while the circuit breaker may still count them, and the
instances those tasks are on (`reads.py`: bounded by the service, never by the
cluster), calls the pure `reconcile`, and applies the plan in the same transaction:
starts are placed through the scheduler (`tasks.placement.place_tasks`), stops go
through `tasks.reports.request_stop`, deployments and events are written to the
service document. Agents of touched instances are then told (level-triggered push).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from dockyard.context import ApiContext
from dockyard.controllers.services import history, reads, task_set_step
from dockyard.controllers.services.model import Plan
from dockyard.controllers.services.reconcile import reconcile
from dockyard.controllers.services.targets import (
    release_before_stop,
    sync_registrations,
    targets_by_task,
)
from dockyard.lifecycle import StopCode
from dockyard.metrics.instruments import RECONCILE_SECONDS
from dockyard.scheduler import SERVICE_DEFAULT_STRATEGY
from dockyard.services.documents import add_event, new_deployment
from dockyard.services.task_sets import is_external
from dockyard.store import Kind, Tx
from dockyard.tasks.placement import TaskSpec, place_tasks
from dockyard.tasks.reports import request_stop
from dockyard.wire import codec

log = logging.getLogger("dockyard.controllers.services")
INTERVAL_S = 0.5  # a service still converging is looked at again after this (then backs off)
# Tasks one step places at most (one transaction, on the event loop with SQLite: ~0.7 ms
# each); a step with more to start asks for another at once (`Outcome.more`), after the
# services already queued, so API calls and other services are not held ~200 ms behind
# a 250-task step (RunTask p99, bench/README.md). DOCKYARD_STEP_MAX_STARTS overrides.
MAX_STARTS_PER_STEP = int(os.environ.get("DOCKYARD_STEP_MAX_STARTS", "100"))
EVENT_TASKS = 10  # tasks one "has started/stopped" event lists at most (`_task_events`)


@dataclass
class Outcome:
    """What one step did: the instances to tell, and whether the service is settled
    (steady, or gone): only a change it depends on needs another step then."""

    touched: set[str] = field(default_factory=set)
    # tasks started or stopped -> their committed documents (the agent hub's pushes)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    settled: bool = True
    progressed: bool = False  # started, stopped or changed the service document
    target_groups: frozenset[str] = frozenset()  # its load balancers' target groups
    gone: bool = False  # no such service (deleted, INACTIVE, or its cluster deleted)
    live_tasks: int = 0  # the service's live tasks this step read (the runner paces by it)
    more: bool = False  # tasks left to start beyond MAX_STARTS_PER_STEP: step again now


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


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


def step(ctx: ApiContext, service_arn: str) -> set[str]:
    """One reconcile step for one service; returns the instances whose tasks changed."""
    return reconcile_service(ctx, service_arn).touched


@RECONCILE_SECONDS.time()
def reconcile_service(ctx: ApiContext, service_arn: str) -> Outcome:
    """One reconcile step for one service, with what the runner needs to schedule the next."""
    with ctx.store.transaction() as tx:
        service = tx.get(Kind.SERVICE, service_arn)
        if service is None or service["status"] == "INACTIVE":
            return Outcome(gone=True)
        cluster = tx.get(Kind.CLUSTER, service["clusterArn"])
        if cluster is None:
            return Outcome(gone=True)
        return _reconcile(ctx, tx, cluster, service)


def _reconcile(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], service: dict[str, Any]
) -> Outcome:
    now = ctx.now()
    service_arn = service["serviceArn"]
    external = is_external(service)  # task sets (task_set_step.py), not deployments
    lb_service = task_set_step.balancing(service) if external else service
    outcome = Outcome(
        target_groups=frozenset(lb["targetGroupArn"] for lb in lb_service.get("loadBalancers", []))
    )
    touched = outcome.touched
    view = reads.service_view(service)
    deployments = reads.deployment_views(service)
    balanced = bool(lb_service.get("loadBalancers"))
    targets = targets_by_task(tx, lb_service) if balanced else {}
    definitions: dict[str, Any] = {}
    for d in deployments:
        definitions[d.task_definition] = tx.get(Kind.TASK_DEFINITION, d.task_definition) or {}
    for arn in {t["taskDefinition"] for t in service.get("taskSets", [])}:
        definitions[arn] = tx.get(Kind.TASK_DEFINITION, arn) or {}
    # no load balancer: the live tasks' views kept from the last step (reads.held_task_views)
    held = None if external or balanced else reads.held_task_views(tx, service, definitions, now)
    if held is not None:
        live_docs: list[dict[str, Any]] = []  # not materialized (read only with balancers)
        stopped_docs = reads.stopped_rows(tx, service, deployments)
        ended = reads.task_views(tx, stopped_docs, definitions, {}, balanced=False, now=now)
        tasks = held + ended
        instance_arns = {t.instance_arn for t in held}
        outcome.live_tasks = len(held)
    else:
        live_docs, stopped_docs = reads.task_rows(tx, service, deployments)
        outcome.live_tasks = len(live_docs)
        if external:
            rows = live_docs + stopped_docs
            tasks = task_set_step.external_task_views(
                tx, service, rows, definitions, targets, now=now
            )
        else:
            tasks = reads.task_views(
                tx, live_docs + stopped_docs, definitions, targets, balanced=balanced, now=now
            )
        instance_arns = {t.get("containerInstanceArn") or "" for t in live_docs}
    instances, instance_ids = reads.instance_views(tx, service, instance_arns)
    # what the store would hold: orjson text, ~50x cheaper than repr of a document whose
    # 100 events reach ~400 KB (1.2 ms a repr, twice a step: bench/README.md)
    before = codec.dumps(service)
    if external:  # writes the task sets' changes into the document
        plan = task_set_step.plan_and_apply(service, view, tasks, instances, now)
    else:
        plan = reconcile(view, deployments, tasks, instances, now)
    outcome.settled = plan.steady
    known = list(service["deployments"])  # entries a change may remove, for the history
    _apply_deployments(service, plan, now)
    if plan.deployments:
        history.follow(tx, [*known, *service["deployments"]], plan.deployments, now)
    for message in plan.events:
        add_event(service, message, now)
    stopped = []
    deregistered: dict[str, int] = {}
    for stop in plan.stop:
        if balanced:
            may_stop, released = release_before_stop(tx, stop.task_arn, targets, now)
            for group, count in released.items():
                deregistered[group] = deregistered.get(group, 0) + count
            if not may_stop:
                continue  # draining in its target groups; stopped once drained
        reason = stop.reason
        task_targets = targets.get(stop.task_arn)
        if (
            task_targets is not None
            and task_targets.health == "UNHEALTHY"
            and "health checks" in reason
        ):
            groups = sorted({r["target_group"] for r in task_targets.rows})
            reason = f"Task failed ELB health checks in (target-group {groups[0]})"
        task = request_stop(
            tx, stop.task_arn, reason, StopCode.SERVICE_SCHEDULER_INITIATED.value, now
        )
        if task is not None:
            stopped.append(stop.task_arn)
            touched.add(task.get("containerInstanceArn", ""))
            outcome.tasks[stop.task_arn] = task
    _task_events(service, "stopped", "running tasks", stopped, now)
    started, outcome.more = _start(
        ctx, tx, cluster, service, plan, definitions=definitions, now=now
    )
    touched.update(t["containerInstanceArn"] for t in started)
    outcome.tasks.update((t["taskArn"], t) for t in started)
    if balanced:
        # Tasks stopped in this pass were read as RUNNING: never register them again.
        just_stopped = set(stopped)
        current = [t for t in live_docs if t["taskArn"] not in just_stopped]
        # Targets of tasks no longer live (STOPPED, or expired): deregistered at once.
        live_arns = {t["taskArn"] for t in live_docs}
        current += [
            {"taskArn": arn, "lastStatus": "STOPPED", "desiredStatus": "STOPPED"}
            for arn in sorted(targets)
            if arn not in live_arns
        ]
        sync = task_set_step.sync_external if external else sync_registrations
        registered, gone = sync(tx, service, current, instance_ids, targets, now=now)
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
            outcome.settled = False  # target health follows; look again
    if service["schedulingStrategy"] == "DAEMON":
        service["desiredCount"] = sum(1 for i in instances if i.status == "ACTIVE" and i.eligible)
    if service["status"] == "DRAINING" and not any(t.live for t in tasks) and not started:
        service["status"] = "INACTIVE"
        service["deployments"] = [d for d in service["deployments"] if d["status"] == "PRIMARY"]
        if external:
            service["taskSets"] = []
        outcome.settled = True
    changed = codec.dumps(service) != before
    if changed:
        tx.update(Kind.SERVICE, service_arn, service, status=service["status"])
    outcome.progressed = bool(stopped or started or changed)
    if stopped or started:
        outcome.settled = False
    return outcome


def _start(
    ctx: ApiContext,
    tx: Tx,
    cluster: dict[str, Any],
    service: dict[str, Any],
    plan: Plan,
    *,
    definitions: dict[str, Any],
    now: float,
) -> tuple[list[dict[str, Any]], bool]:
    """Place the plan's starts, at most MAX_STARTS_PER_STEP tasks; returns the tasks
    started and whether starts were left for the next step."""
    budget = MAX_STARTS_PER_STEP
    started: list[dict[str, Any]] = []
    more = False
    by_id = {d["id"]: d for d in service["deployments"]}
    # a task set starts its tasks like a deployment, with its own launch and network settings
    task_sets = {t["id"]: t for t in service.get("taskSets", [])}
    by_id.update(task_sets)
    name = service["serviceName"]
    for start in plan.start:
        deployment = by_id.get(start.deployment_id)
        if deployment is None or start.count <= 0:
            continue
        count = min(start.count, budget - len(started))
        if count <= 0:
            more = True  # the rest next step
            break
        launch = deployment if deployment["id"] in task_sets else service
        definition = definitions.get(deployment["taskDefinition"]) or (
            tx.get(Kind.TASK_DEFINITION, deployment["taskDefinition"]) or {}
        )
        if not definition:
            continue
        propagate = service.get("propagateTags") == "SERVICE"
        tags = tx.get_tags(service["serviceArn"]) if propagate else []
        spec = TaskSpec(
            task_definition=definition,
            count=count,
            group=f"service:{name}",
            started_by=deployment["id"],
            strategy=service.get("placementStrategy") or SERVICE_DEFAULT_STRATEGY,
            constraints=service.get("placementConstraints", []),
            tags=tags,
            # bases and weights hold over the service's tasks as it scales
            capacity_provider_strategy=deployment.get("capacityProviderStrategy")
            or service.get("capacityProviderStrategy")
            or (),
            keep_split=True,
            network_configuration=launch.get("networkConfiguration"),  # awsvpc
            extra={"enableExecuteCommand": True} if service.get("enableExecuteCommand") else None,
        )
        if launch.get("launchType") == "FARGATE":
            spec.extra = {**(spec.extra or {}), "launchType": "FARGATE"}
        only = [start.instance_arn] if start.instance_arn else None
        tasks, result = place_tasks(ctx, tx, cluster, spec, rng=ctx.rng(), only_instances=only)
        started.extend(tasks)
        more |= count < start.count and len(tasks) == count  # all fitted: more may fit
        message = result.event_message(name)
        if message and (not service.get("events") or service["events"][0]["message"] != message):
            add_event(service, message, now)
    arns = [t["taskArn"] for t in started]
    _task_events(service, "started", "tasks", arns, now)
    return started, more


def _task_events(
    service: dict[str, Any], verb: str, noun: str, arns: list[str], now: float
) -> None:
    """ECS's "has started/stopped N tasks: (task id). ..." events, at most EVENT_TASKS
    tasks each (ECS starts a service's tasks in batches of RunTask's 10). One event for a
    100-task step made a service's 100 events ~400 KB: decoded and rewritten every step,
    sent whole by every DescribeServices (bench/README.md, issue 9); now ~50 KB at most."""
    for first in range(0, len(arns), EVENT_TASKS):
        chunk = arns[first : first + EVENT_TASKS]
        listed = " ".join(f"(task {_task_id(a)})." for a in chunk)
        head = f"(service {service['serviceName']}) has {verb} {len(chunk)} {noun}: "
        add_event(service, head + listed, now)


async def run(ctx: ApiContext, interval_s: float = INTERVAL_S) -> None:
    """The service controller (what `dockyard server` starts): event-driven, see runner.py."""
    from dockyard.controllers.services.runner import ServiceRunner  # runner imports this module

    await ServiceRunner(ctx, recheck_s=interval_s).run()
