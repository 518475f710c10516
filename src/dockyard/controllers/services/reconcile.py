"""The service controller's decision: `reconcile(...) -> Plan`, pure and level-triggered.

Neighbours: `loop.py` builds the views (model.py) from the store every ~0.5 s, calls
`reconcile` and applies the Plan; `rolling.py` (REPLICA) and `daemon.py` (DAEMON)
decide starts and stops, `circuit_breaker.py` fails or rolls back the primary
deployment, `context.py` holds the shared context, texts and orderings.

One call takes one step, what can be done now; applying the plan and calling again
converges:

    health     tasks UNHEALTHY past the grace period stop ("doomed")
    breaker    count the primary's failed tasks; FAILED -> start nothing / roll back
    strategy   REPLICA rolling update or DAEMON per-instance update -> starts, stops
    status     old deployments without live tasks -> INACTIVE; the primary -> COMPLETED
    events     deployment completed / steady state / unable to make progress, each
               written on its transition and never twice in a row (service.last_event)

No store, no clock (`now` is given), no randomness; ties are broken by
(created_at, id) for deployments and by ARN for tasks, so equal inputs give equal plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dockyard.controllers.services import circuit_breaker
from dockyard.controllers.services.context import (
    HEALTH_REASON,
    Context,
    completed_message,
    steady_message,
    stuck_message,
)
from dockyard.controllers.services.daemon import plan_daemon
from dockyard.controllers.services.model import (
    DeploymentChange,
    DeploymentView,
    InstanceView,
    Plan,
    ServiceView,
    Stop,
    TaskView,
)
from dockyard.controllers.services.rolling import plan_replica

__all__ = ["failing_health", "reconcile"]


def failing_health(task: TaskView, service: ServiceView, now: float) -> bool:
    """A wanted task whose health checks say UNHEALTHY after the grace period."""
    if not (task.wanted and task.health_known and task.health == "UNHEALTHY"):
        return False
    started = task.started_at if task.started_at is not None else task.created_at
    return started + service.health_check_grace_s < now


def reconcile(
    service: ServiceView,
    deployments: Sequence[DeploymentView],
    tasks: Sequence[TaskView],
    instances: Sequence[InstanceView],
    now: float,
) -> Plan:
    ordered = tuple(sorted(deployments, key=lambda d: (d.created_at, d.id)))
    primaries = [d for d in ordered if d.status == "PRIMARY"]
    if not primaries:
        return Plan()
    primary = primaries[-1]  # there is one; if not, the newest leads and the others demote
    plan = Plan(deployments=[DeploymentChange(d.id, status="ACTIVE") for d in primaries[:-1]])

    draining = service.status == "DRAINING"
    daemon = service.scheduling_strategy == "DAEMON"
    if daemon:
        home = {i.arn for i in instances if i.status == "ACTIVE" and i.eligible}
        home = set() if draining else home
        desired = len(home)
    else:
        home = {i.arn for i in instances if i.status == "ACTIVE"}
        desired = 0 if draining else max(0, service.desired_count)
    by_arn = tuple(sorted(tasks, key=lambda t: t.arn))
    doomed = frozenset(t.arn for t in by_arn if failing_health(t, service, now))

    verdict = circuit_breaker.Verdict()
    if not draining:
        verdict = circuit_breaker.evaluate(service, primary, ordered, by_arn, desired)
    ctx = Context(
        service=service,
        primary=primary,
        deployments=ordered,
        tasks=by_arn,
        home=frozenset(home),
        doomed=doomed,
        desired=desired,
        can_start=not verdict.failed,
        instances=tuple(instances),
    )
    moves = plan_daemon(ctx, instances) if daemon else plan_replica(ctx)
    plan.start = moves.starts
    plan.stop = [Stop(arn, HEALTH_REASON) for arn in sorted(doomed)] + moves.stops
    plan.deployments += verdict.changes
    plan.events += verdict.events
    plan.steady = _steady(ctx, plan)

    completed = plan.steady and primary.rollout_state == "IN_PROGRESS" and not verdict.failed
    if completed and not draining:
        _change_primary(plan, primary.id, rollout_state="COMPLETED")
        plan.events.append(completed_message(service.name, primary.id))
    _retire_old_deployments(ctx, plan)
    if draining:
        return plan
    if plan.steady:
        _event_once(plan, service, steady_message(service.name))
    elif _stuck(ctx, plan):
        _event_once(plan, service, stuck_message(service, desired))
    return plan


def _steady(ctx: Context, plan: Plan) -> bool:
    """Only the primary's tasks are live, exactly `desired` of them, all healthy and at
    home, and this step moves nothing."""
    if plan.start or plan.stop:
        return False
    live = ctx.live
    return len(live) == ctx.desired and all(
        ctx.is_primary(t) and t.healthy and not ctx.leaving(t) for t in live
    )


def _stuck(ctx: Context, plan: Plan) -> bool:
    """Work remains, nothing is in flight (every live task wanted and healthy, so no
    state change is coming) and the step moves nothing: the deployment configuration
    allows neither a start (maximumPercent) nor a stop (minimumHealthyPercent). A FAILED
    primary is idle on purpose and is not reported."""
    if plan.start or plan.stop or plan.steady or not ctx.can_start:
        return False
    return all(t.wanted and t.healthy for t in ctx.live)


def _retire_old_deployments(ctx: Context, plan: Plan) -> None:
    """A non-primary deployment without live tasks becomes INACTIVE (the loop removes it),
    except the rollback target while the breaker could still need it: the newest
    COMPLETED one, as long as the primary is IN_PROGRESS with rollback enabled."""
    with_tasks = {t.deployment_id for t in ctx.live}
    keep = None
    service = ctx.service
    if (
        service.circuit_breaker_enable
        and service.circuit_breaker_rollback
        and ctx.primary.rollout_state == "IN_PROGRESS"
        and not any(c.id == ctx.primary.id and c.rollout_state for c in plan.deployments)
    ):
        keep = circuit_breaker.rollback_candidate(ctx.deployments)
    demoted = {c.id for c in plan.deployments if c.status == "ACTIVE"}
    for d in ctx.deployments:
        if d.id == ctx.primary.id or d.id in with_tasks or d.id in demoted or d is keep:
            continue
        plan.deployments.append(DeploymentChange(d.id, status="INACTIVE"))


def _change_primary(plan: Plan, deployment_id: str, rollout_state: str) -> None:
    """Merge into the primary's change if the breaker already made one (failed_tasks)."""
    for i, change in enumerate(plan.deployments):
        if change.id == deployment_id:
            plan.deployments[i] = replace(change, rollout_state=rollout_state)
            return
    plan.deployments.append(DeploymentChange(deployment_id, rollout_state=rollout_state))


def _event_once(plan: Plan, service: ServiceView, message: str) -> None:
    if service.last_event != message:
        plan.events.append(message)
