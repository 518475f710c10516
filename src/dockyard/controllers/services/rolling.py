"""REPLICA rolling update: one step toward desiredCount healthy tasks of the primary deployment.

Neighbours: called by `reconcile.py` with a `Context` (context.py); `daemon.py` is
the DAEMON counterpart. Returns `Moves` (starts and stops); deployment states and
events are `reconcile.py`'s business.

The step, in the order it is decided:

    1. tasks on leaving (DRAINING) instances that are not RUNNING yet: stop at once
    2. start primary tasks while the primary's effective count < D, within max_total
    3. scale-in: primary tasks beyond D stop (least useful first)
    4. replace: old-deployment tasks, and RUNNING primary tasks on leaving
       instances, stop as far as min_healthy allows (not-healthy ones first)

Starting and stopping happen in the same step, as ECS does: the start fills the
room maximumPercent leaves, the stops spend what minimumHealthyPercent allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.controllers.services.context import (
    Context,
    ceil_div,
    least_useful_first,
    within_budget,
)
from dockyard.controllers.services.model import ServiceView, Start, Stop, TaskView
from dockyard.controllers.services.scale_in import pick_for_scale_in


@dataclass
class Moves:
    starts: list[Start] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)


def limits(desired: int, service: ServiceView) -> tuple[int, int]:
    """(max_total, min_healthy) for `desired` tasks.

    Worked example, D = 4 with minimumHealthyPercent 50 and maximumPercent 200:
        max_total   = floor(4 * 200 / 100) = 8   a start never makes live tasks exceed 8
        min_healthy = ceil(4 * 50 / 100)   = 2   a stop never makes healthy tasks drop below 2
    Rounding favours availability: D = 3 at 50/150 gives max floor(4.5) = 4, min ceil(1.5) = 2.
    """
    max_total = desired * service.maximum_percent // 100
    min_healthy = ceil_div(desired * service.minimum_healthy_percent, 100)
    return max_total, min_healthy


def plan_replica(ctx: Context) -> Moves:
    """One step of a REPLICA service (see the module docstring for the order).

    Worked example: a new deployment with D = 4 at 50/200 over 4 healthy old tasks
    (max_total 8, min_healthy 2):
        step 1  start min(4 - 0 primary, 8 - 4 live) = 4 new;
                stop 4 healthy - 2 = 2 old                                -> live 8
        step 2  (the 2 stopped old are STOPPED, the 4 new RUNNING) live 6, healthy 6:
                nothing to start (4 primary = D); stop the 2 last old (budget 6 - 2 = 4)
        step 3  only the 4 new remain: COMPLETED and steady.
    With 100/200 the 4 new start at once but no old one stops (budget 4 - 4 = 0) until
    new ones turn healthy; with 0/100 all old ones stop first (max_total 4 leaves no
    room) and the new ones start as the old reach STOPPED; with 100/100 nothing can
    move (max_total 4 = live, min_healthy 4 = healthy): `reconcile` reports it.
    """
    max_total, min_healthy = limits(ctx.desired, ctx.service)
    live = ctx.live
    kept = ctx.kept
    moves = Moves()

    # 1. Not yet RUNNING on a leaving instance: never healthy, so stopping is free.
    unplaced = {t.arn for t in kept if ctx.leaving(t) and t.last_status != "RUNNING"}
    moves.stops += [Stop(arn, ctx.draining_reason) for arn in sorted(unplaced)]
    kept = [t for t in kept if t.arn not in unplaced]

    # 2. Start: the primary's effective count excludes tasks being stopped, failing
    #    health checks and those on leaving instances; stopping tasks still count as live.
    primary_home = [t for t in kept if ctx.is_primary(t) and not ctx.leaving(t)]
    if ctx.can_start:
        count = min(ctx.desired - len(primary_home), max_total - len(live))
        if count > 0:
            moves.starts.append(Start(ctx.primary.id, count))

    # 3. Scale-in (desiredCount lowered, or the service DRAINING): exempt from
    #    min_healthy; the least useful go first, then the placement strategy's order
    #    (scale_in.py). Protected tasks are never stopped to scale in (deleting the
    #    service, DRAINING, is not a scale-in and stops them).
    excess = max(0, len(primary_home) - ctx.desired)
    deleting = ctx.service.status == "DRAINING"
    extras = pick_for_scale_in(
        [t for t in primary_home if deleting or not t.protected],
        primary_home,
        excess,
        ctx.service.placement_strategy,
        ctx.instances_by_arn,
        providers=ctx.service.capacity_provider_strategy,
    )
    moves.stops += [Stop(t.arn, ctx.scaling_reason) for t in extras]

    # 4. Replace: everything kept that is not a primary task at home.
    #    A deployment waits for protected tasks' protection to expire (as ECS does),
    #    except on leaving instances.
    home_arns = {t.arn for t in primary_home}
    others = [t for t in kept if t.arn not in home_arns and (ctx.leaving(t) or not t.protected)]
    if not ctx.can_start:
        others = _failed_primary_candidates(ctx, others, len(primary_home) - len(extras))
    budget = sum(t.healthy for t in kept) - sum(t.healthy for t in extras) - min_healthy
    order = sorted(
        others,
        key=lambda t: (
            t.healthy,
            not ctx.leaving(t),  # drained instances first: they are going away
            ctx.deployment_age(t),  # then the oldest deployment
            t.created_at,
            t.arn,
        ),
    )
    picked, _ = within_budget(order, budget)
    moves.stops += [
        Stop(t.arn, ctx.draining_reason if ctx.leaving(t) else ctx.scaling_reason) for t in picked
    ]
    return moves


def _failed_primary_candidates(
    ctx: Context, others: list[TaskView], primary_kept: int
) -> list[TaskView]:
    """A FAILED primary starts nothing, so old tasks are kept as the service's capacity:
    only tasks on leaving instances, and old tasks beyond desiredCount, are replaced."""
    leaving = [t for t in others if ctx.leaving(t)]
    staying = [t for t in others if not ctx.leaving(t)]
    surplus = primary_kept + len(staying) - ctx.desired
    return leaving + least_useful_first(staying)[: max(0, surplus)]
