"""EXTERNAL services: one step toward each task set's computedDesiredCount (pure).

Neighbours: `loop.py` calls `plan_task_sets` instead of `reconcile.reconcile` for a
service whose deploymentController is EXTERNAL, with one `TaskSetView` per task set
of the service document (`services/task_sets.py`), and applies the result: starts
(startedBy = the task set id), stops, and the task sets' changes (stabilityStatus,
removal of a drained DRAINING set). An external deployer decides what runs (it creates,
scales, promotes and deletes task sets); this controller never creates or retires a set
and has no rolling update, circuit breaker or minimumHealthyPercent: each set is kept
at its own count independently.

Per task set, in order (D = its computedDesiredCount, 0 when DRAINING):

    1. not yet RUNNING on a leaving (DRAINING) instance: stop at once
    2. start D - (its wanted tasks at home)
    3. scale-in: tasks at home beyond D stop, in the service's placement order
       (scale_in.py); protected tasks only when the set or the service drains
    4. RUNNING tasks on leaving instances stop once D healthy tasks are at home
    5. STEADY_STATE when nothing moved and exactly D live tasks, all healthy and at
       home; else STABILIZING. DRAINING with no live task: removed.

Tasks of no task set (their set was removed) stop; tasks failing health checks past the
grace period stop (as in `reconcile.py`). Worked example: desiredCount 4, set A at 100 %
with 4 healthy tasks, set B created at 50 %: B starts 2 (A unchanged, 6 tasks run);
B scaled to 100 % starts 2 more; A deleted (DRAINING, D = 0) stops its 4, then goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.controllers.services.context import (
    HEALTH_REASON,
    draining_reason,
    scaling_reason,
    steady_message,
)
from dockyard.controllers.services.model import (
    InstanceView,
    Plan,
    ServiceView,
    Start,
    Stop,
    TaskView,
)
from dockyard.controllers.services.reconcile import failing_health
from dockyard.controllers.services.scale_in import pick_for_scale_in

STEADY, STABILIZING = "STEADY_STATE", "STABILIZING"


@dataclass(frozen=True, slots=True)
class TaskSetView:
    id: str  # "ecs-svc/..."; its tasks carry it as startedBy
    status: str  # PRIMARY | ACTIVE | DRAINING
    desired: int  # computedDesiredCount (0 when DRAINING or the service drains)
    stability_status: str = STABILIZING  # as stored
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskSetChange:
    id: str
    stability_status: str | None = None  # None = unchanged
    remove: bool = False  # DRAINING and no live task left


@dataclass
class TaskSetPlan:
    plan: Plan = field(default_factory=Plan)  # starts, stops, events, steady
    changes: list[TaskSetChange] = field(default_factory=list)


def plan_task_sets(
    service: ServiceView,
    sets: Sequence[TaskSetView],
    tasks: Sequence[TaskView],
    instances: Sequence[InstanceView],
    now: float,
) -> TaskSetPlan:
    out = TaskSetPlan()
    plan = out.plan
    home = frozenset(i.arn for i in instances if i.status == "ACTIVE")
    by_instance = {i.arn: i for i in instances}
    by_arn = sorted(tasks, key=lambda t: t.arn)
    doomed = {t.arn for t in by_arn if failing_health(t, service, now)}
    plan.stop += [Stop(arn, HEALTH_REASON) for arn in sorted(doomed)]
    known = {s.id for s in sets}
    for task in by_arn:
        if task.wanted and task.arn not in doomed and task.deployment_id not in known:
            plan.stop.append(Stop(task.arn, f"Service {service.name}: task set was deleted"))

    all_steady = True
    for task_set in sorted(sets, key=lambda s: (s.created_at, s.id)):
        own = [t for t in by_arn if t.deployment_id == task_set.id]
        before = len(plan.start) + len(plan.stop)
        _step(service, task_set, own, doomed, home, by_instance, plan)
        moved = len(plan.start) + len(plan.stop) > before or any(t.arn in doomed for t in own)
        live = [t for t in own if t.live]
        steady = (
            not moved
            and len(live) == task_set.desired
            and all(t.healthy and t.instance_arn in home for t in live)
        )
        all_steady = all_steady and steady
        if task_set.status == "DRAINING" and not live:
            out.changes.append(TaskSetChange(task_set.id, remove=True))
            continue
        status = STEADY if steady else STABILIZING
        if status != task_set.stability_status:
            out.changes.append(TaskSetChange(task_set.id, stability_status=status))

    orphans = any(t.live and t.deployment_id not in known for t in by_arn)
    plan.steady = all_steady and not orphans and not plan.start and not plan.stop
    message = steady_message(service.name)
    if plan.steady and sets and service.status == "ACTIVE" and service.last_event != message:
        plan.events.append(message)
    return out


def _step(  # noqa: PLR0917
    service: ServiceView,
    task_set: TaskSetView,
    own: list[TaskView],
    doomed: set[str],
    home: frozenset[str],
    instances: dict[str, InstanceView],
    plan: Plan,
) -> None:
    desired = task_set.desired
    kept = [t for t in own if t.wanted and t.arn not in doomed]
    leaving = [t for t in kept if t.instance_arn not in home]
    # 1. not yet RUNNING on a leaving instance: never healthy, stopping it costs nothing
    unplaced = [t for t in leaving if t.last_status != "RUNNING"]
    plan.stop += [Stop(t.arn, draining_reason(service.name)) for t in unplaced]
    at_home = [t for t in kept if t.instance_arn in home]
    # 2. start what is missing at home
    if desired > len(at_home):
        plan.start.append(Start(task_set.id, desired - len(at_home)))
    # 3. scale-in
    excess = max(0, len(at_home) - desired)
    draining = task_set.status == "DRAINING" or service.status == "DRAINING"
    extras = pick_for_scale_in(
        [t for t in at_home if draining or not t.protected],
        at_home,
        excess,
        service.placement_strategy,
        instances,
    )
    plan.stop += [Stop(t.arn, scaling_reason(task_set.id)) for t in extras]
    # 4. RUNNING on a leaving instance: once the replacements at home are healthy
    healthy_home = sum(t.healthy for t in at_home) - sum(t.healthy for t in extras)
    if healthy_home >= desired:
        running_away = [t for t in leaving if t.last_status == "RUNNING"]
        plan.stop += [Stop(t.arn, draining_reason(service.name)) for t in running_away]
