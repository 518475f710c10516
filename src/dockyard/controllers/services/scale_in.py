"""Which tasks a scale-in stops: ECS's order, following the service's placement strategy.

Neighbours: `rolling.py` calls `pick_for_scale_in` for the primary tasks beyond
desiredCount; `context.py` keeps the general `least_useful_first` order.

ECS stops tasks so that what stays is still placed by the strategy:

    not healthy, then not yet RUNNING        (they serve nobody: always first)
    spread(field)   the task whose field value (AZ, instance) holds the most of the
                    service's tasks -> the spread stays balanced
    binpack(res)    the task on the instance with the most remaining cpu/memory ->
                    the least-packed instance empties first
    random          by ARN (deterministic)
    then the newest task, then the ARN

With a capacity provider strategy the provider comes first: each pick is from the
provider whose stop keeps the remaining split closest to base/weight (ECS scales in by
the strategy too), then the order above among that provider's tasks.

Picks are greedy, one at a time, recounting after each, so a spread of 3/1 scaled in
by two stops two tasks of the crowded value. Tasks with scale-in protection are never
candidates (`TaskView.protected`); they still count toward the balance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from dockyard.controllers.services.model import InstanceView, TaskView
from dockyard.scheduler.providers import StrategyItem, scale_in_providers
from dockyard.scheduler.rank import Stage

INSTANCE = "__instance__"


def _value(task: TaskView, field: str | None, instances: Mapping[str, InstanceView]) -> str:
    if field is None:
        return task.instance_arn
    instance = instances.get(task.instance_arn)
    attributes = dict(instance.attributes) if instance is not None else {}
    return str(attributes.get(field, ""))


def pick_for_scale_in(
    candidates: Sequence[TaskView],
    placed: Sequence[TaskView],
    count: int,
    strategy: Sequence[Stage],
    instances: Mapping[str, InstanceView],
    *,
    providers: Sequence[StrategyItem] = (),
) -> list[TaskView]:
    """`count` of `candidates` to stop; `placed` are all the service's tasks being kept
    (candidates and protected ones) whose spread is to stay balanced. With a capacity
    provider strategy (`providers`), each pick first takes the provider the strategy's
    split says (scheduler.providers.scale_in_providers), then the order above within it."""
    if count <= 0 or not candidates:
        return []  # the usual case: counting the spread of every task would be wasted
    order = None
    if providers:
        order = scale_in_providers(
            providers,
            Counter(t.capacity_provider for t in placed),
            Counter(t.capacity_provider for t in candidates),
            count,
        )
    spreads = [stage.field for stage in strategy if stage.kind == "spread"]
    counts = {
        field or INSTANCE: Counter(_value(t, field, instances) for t in placed) for field in spreads
    }
    pool = list(candidates)
    picked: list[TaskView] = []
    while pool and len(picked) < count:
        among = pool
        if order is not None:
            if len(picked) >= len(order):
                break
            among = [t for t in pool if t.capacity_provider == order[len(picked)]]
        best = min(among, key=lambda t: _key(t, strategy, counts, instances))
        pool.remove(best)
        picked.append(best)
        for field in spreads:
            counts[field or INSTANCE][_value(best, field, instances)] -= 1
    return picked


def _key(
    task: TaskView,
    strategy: Sequence[Stage],
    counts: Mapping[str, Counter[str]],
    instances: Mapping[str, InstanceView],
) -> tuple[object, ...]:
    parts: list[object] = [task.healthy, task.last_status == "RUNNING"]
    instance = instances.get(task.instance_arn)
    for stage in strategy:
        if stage.kind == "spread":
            parts.append(-counts[stage.field or INSTANCE][_value(task, stage.field, instances)])
        elif stage.kind == "binpack" and instance is not None:
            remaining = (
                instance.remaining_cpu if stage.field == "cpu" else instance.remaining_memory
            )
            parts.append(-remaining)
    parts += [-task.created_at, task.arn]
    return tuple(parts)
