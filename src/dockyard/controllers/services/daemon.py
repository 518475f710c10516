"""DAEMON services: one task of the primary deployment on every eligible ACTIVE instance.

Neighbours: called by `reconcile.py` with a `Context` whose `home` is the set of
ACTIVE instances that meet the service's placement constraints and whose
`desired` is their number; `rolling.py` is the REPLICA counterpart and owns the
`Moves` shape.

The step, per instance (sorted by ARN):

    not home (DRAINING, ineligible, gone)   stop its tasks at once
    home, two primary tasks or more         stop all but the most useful one
    home, a primary task and an old one     the old one is a replacement candidate
    home, old tasks only                    they are replacement candidates
    home, no live task at all               Start(primary, 1, instance)

Replacement candidates stop as minimumHealthyPercent of the home instances allows
(ECS's daemon defaults are 0% / 100%). The primary task starts on an instance only
once nothing is live there any more: maximumPercent is 100% for daemons, so there
are never two tasks on one instance (a STOPPING task still holds its place).

Worked example, 4 eligible instances with old tasks, minimumHealthyPercent 50:
    min_healthy = ceil(4 * 50 / 100) = 2, so 4 healthy - 2 = 2 old tasks stop in step 1;
    when they are STOPPED, step 2 starts the primary on those 2 instances; when those
    are healthy (healthy 4 again), step 3 stops the 2 last old ones; step 4 starts there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from dockyard.controllers.services.context import (
    Context,
    ceil_div,
    least_useful_first,
    within_budget,
)
from dockyard.controllers.services.model import InstanceView, Start, Stop, TaskView
from dockyard.controllers.services.rolling import Moves


def plan_daemon(ctx: Context, instances: Sequence[InstanceView]) -> Moves:
    moves = Moves()
    status = {i.arn: i.status for i in instances}
    min_healthy = ceil_div(ctx.desired * ctx.service.minimum_healthy_percent, 100)

    # Tasks off the home instances stop at once: the instance left the daemon's set.
    kept: list[TaskView] = []
    for task in ctx.kept:
        if not ctx.leaving(task):
            kept.append(task)
        elif status.get(task.instance_arn) == "ACTIVE":
            moves.stops.append(Stop(task.arn, ctx.ineligible_reason))
        else:
            moves.stops.append(Stop(task.arn, ctx.draining_reason))

    live_on: dict[str, int] = defaultdict(int)
    for task in ctx.live:
        live_on[task.instance_arn] += 1
    kept_on: dict[str, list[TaskView]] = defaultdict(list)
    for task in kept:
        kept_on[task.instance_arn].append(task)

    extras: list[TaskView] = []
    beside_primary: list[TaskView] = []  # old tasks on an instance that has a primary task
    replace: list[TaskView] = []  # old tasks on an instance without one
    for arn in sorted(ctx.home):
        primaries = [t for t in kept_on[arn] if ctx.is_primary(t)]
        olds = [t for t in kept_on[arn] if not ctx.is_primary(t)]
        extras += least_useful_first(primaries)[:-1]
        if primaries:
            beside_primary += olds
        elif olds:
            if ctx.can_start:  # a FAILED primary keeps the old daemon running
                replace += olds
        elif live_on[arn] == 0 and ctx.can_start:
            moves.starts.append(Start(ctx.primary.id, 1, instance_arn=arn))

    moves.stops += [Stop(t.arn, ctx.scaling_reason) for t in extras]
    budget = sum(t.healthy for t in kept) - sum(t.healthy for t in extras) - min_healthy
    order = sorted(beside_primary, key=lambda t: (t.healthy, t.arn)) + sorted(
        replace, key=lambda t: (t.healthy, ctx.deployment_age(t), t.created_at, t.arn)
    )
    picked, _ = within_budget(order, budget)
    moves.stops += [Stop(t.arn, ctx.scaling_reason) for t in picked]
    return moves
