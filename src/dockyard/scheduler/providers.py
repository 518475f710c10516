"""Capacity provider strategies: the rules of a strategy and how tasks split over it.

Role: pure decisions for `capacityProviderStrategy` (RunTask, CreateService,
UpdateService, a cluster's default strategy). `check_strategy` enforces ECS's rules
on the items; `split` says how many of `count` new tasks each provider gets, given
how many tasks of the same service each provider already runs. Neighbours:
`tasks.provider_placement` reads the counts from the store and places each share on
its provider's instances with `place()`.

ECS's arithmetic, as the developer guide states it: the provider with a `base`
runs at least that many tasks first; every task after the bases is assigned by
`weight`. Worked example, strategy A(base 2, weight 1), B(weight 3), 10 tasks:

    tasks 1-2  -> A (its base)
    tasks 3-10 -> by weight 1:3 over the 8 left: A 2, B 6       total A 4, B 6

Each task after the bases goes to the provider whose next task keeps the shares
closest to the weights (D'Hondt: the largest weight / (tasks beyond base + 1),
ties to the provider listed first), so a service that scales 1 task at a time
converges to the same split as one that scales 10 at once.

Scale-in follows the strategy too (`scale_in_providers`): each task stopped comes from
the provider furthest above the split the strategy gives the tasks that remain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidParameterException

MAX_STRATEGY_ITEMS = 20
FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})
"""Reserved names: every cluster may list them. On Dockyard their share runs on any
container instance that fits (there is no serverless pool behind them)."""


@dataclass(frozen=True, slots=True)
class StrategyItem:
    """One `CapacityProviderStrategyItem` with ECS's defaults (base 0, weight 0)."""

    provider: str
    weight: int = 0
    base: int = 0


def parse_strategy_items(raw: Sequence[Mapping[str, Any]]) -> list[StrategyItem]:
    """ECS JSON -> items, checked with `check_strategy`."""
    items = [
        StrategyItem(
            provider=str(item.get("capacityProvider", "")),
            weight=int(item.get("weight", 0) or 0),
            base=int(item.get("base", 0) or 0),
        )
        for item in raw
    ]
    check_strategy(items)
    return items


def check_strategy(items: Sequence[StrategyItem]) -> None:
    """ECS's rules for a capacity provider strategy (InvalidParameterException)."""
    if not items:
        return
    if len(items) > MAX_STRATEGY_ITEMS:
        raise InvalidParameterException(
            f"A capacity provider strategy can contain a maximum of {MAX_STRATEGY_ITEMS} "
            "capacity providers."
        )
    names = [item.provider for item in items]
    if len(set(names)) != len(names):
        raise InvalidParameterException(
            "The specified capacity provider strategy cannot contain duplicate capacity providers."
        )
    for item in items:
        if not 0 <= item.weight <= 1000:
            raise InvalidParameterException("The weight must be between 0 and 1000.")
        if not 0 <= item.base <= 100000:
            raise InvalidParameterException("The base must be between 0 and 100000.")
    if sum(1 for item in items if item.base > 0) > 1:
        raise InvalidParameterException(
            "Only one capacity provider in a capacity provider strategy can have a base defined."
        )
    if len(items) > 1 and not any(item.weight > 0 for item in items):
        raise InvalidParameterException(
            "When multiple capacity providers are specified in a capacity provider strategy, "
            "at least one of them must have a weight value greater than zero."
        )
    fargate = [name in FARGATE_PROVIDERS for name in names]
    if any(fargate) and not all(fargate):
        raise InvalidParameterException(
            "The capacity provider strategy cannot contain a mix of capacity providers using "
            "Auto Scaling groups and Fargate providers. Specify one or the other and try again."
        )


def split(
    items: Sequence[StrategyItem], count: int, existing: Mapping[str, int] | None = None
) -> list[tuple[str, int]]:
    """How many of `count` new tasks each provider gets, in strategy order (zeros left
    out). `existing`: tasks of the same service each provider runs already (bases
    and weights apply to the service's total, so the split holds as it scales)."""
    if count <= 0 or not items:
        return []
    current = {item.provider: int((existing or {}).get(item.provider, 0)) for item in items}
    weights = _weights(items)
    added = dict.fromkeys(current, 0)
    for _ in range(count):
        chosen = _next(items, current, weights)
        current[chosen] += 1
        added[chosen] += 1
    return [(item.provider, added[item.provider]) for item in items if added[item.provider]]


def scale_in_providers(
    items: Sequence[StrategyItem],
    placed: Mapping[str, int],
    available: Mapping[str, int],
    count: int,
) -> list[str]:
    """The provider of each task a scale-in stops, in order (at most `count`, and at most
    `available[p]` from provider p: the tasks that may be stopped). `placed`: the
    service's tasks per provider ("" or any name outside the strategy for tasks of no
    listed provider), stoppable or not.

    Each stop leaves the split closest to what the strategy gives that many tasks: the
    ideal split of n tasks is the first n assignments of `split` from zero (bases, then
    D'Hondt by weight), and the stop comes from the provider furthest above its ideal
    share; ties go to the provider listed last (the first listed wins ties when
    placing), tasks of providers outside the strategy first. Worked example, A(base 2,
    weight 1), B(weight 3) running A 4, B 6, scaled in to 6: ideal for 6 is A 3, B 3
    (A, A, then B, B, B, A by weight), stopping one at a time gives B, A, B, B: A 3, B 3 remain."""
    if count <= 0 or not items:
        return []
    current = Counter({p: n for p, n in placed.items() if n > 0})
    left = Counter({p: n for p, n in available.items() if n > 0})
    total = sum(current.values())
    sequence = _sequence(items, total)  # the ideal split of m tasks: sequence[:m]
    ideal = Counter(sequence)
    position = {item.provider: i for i, item in enumerate(items)}
    order: list[str] = []
    while len(order) < count and +left:
        remaining = total - len(order) - 1
        if remaining >= 0:
            ideal[sequence[remaining]] -= 1
        chosen = max(
            (p for p, n in left.items() if n > 0),
            key=lambda p: (current[p] - ideal[p], position.get(p, len(items)), p),
        )
        current[chosen] -= 1
        left[chosen] -= 1
        order.append(chosen)
    return order


def _weights(items: Sequence[StrategyItem]) -> dict[str, int]:
    """The items' weights; a strategy of weight-0 providers only (one provider, by
    check_strategy) takes all."""
    weights = {item.provider: item.weight for item in items}
    return weights if any(weights.values()) else dict.fromkeys(weights, 1)


def _next(
    items: Sequence[StrategyItem], current: Mapping[str, int], weights: Mapping[str, int]
) -> str:
    """The provider the next task goes to: a base still due, else by weight."""
    chosen = _base_due(items, current)
    if chosen is None:
        chosen = max(
            (item for item in items if weights[item.provider] > 0),
            key=lambda item: _priority(item, current, weights),
        ).provider
    return chosen


def _sequence(items: Sequence[StrategyItem], count: int) -> list[str]:
    """The provider of each of `count` tasks placed one by one from none."""
    current = {item.provider: 0 for item in items}
    weights = _weights(items)
    out = []
    for _ in range(count):
        chosen = _next(items, current, weights)
        current[chosen] += 1
        out.append(chosen)
    return out


def _base_due(items: Sequence[StrategyItem], current: Mapping[str, int]) -> str | None:
    for item in items:
        if current[item.provider] < item.base:
            return item.provider
    return None


def _priority(
    item: StrategyItem, current: Mapping[str, int], weights: Mapping[str, int]
) -> tuple[float, int]:
    """D'Hondt quotient of the provider's next task beyond its base (larger first);
    the negative list position breaks ties toward the provider listed first."""
    beyond = max(0, current[item.provider] - item.base)
    return weights[item.provider] / (beyond + 1), -_position(item, weights)


def _position(item: StrategyItem, weights: Mapping[str, int]) -> int:
    return list(weights).index(item.provider)
