"""The pure capacity provider strategy: ECS's rules on items, and the base/weight split
(table cases, then properties: bases first, shares proportional, order-independent)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.errors import InvalidParameterException
from dockyard.scheduler.providers import StrategyItem, parse_strategy_items, split

A, B, C = "A", "B", "C"


@pytest.mark.parametrize(
    ("items", "count", "existing", "expected"),
    [
        pytest.param([StrategyItem(A)], 3, {}, [(A, 3)], id="one-provider-weight-0"),
        pytest.param(
            [StrategyItem(A, 1, 2), StrategyItem(B, 3)], 10, {}, [(A, 4), (B, 6)], id="guide"
        ),
        pytest.param([StrategyItem(A, 1, 2), StrategyItem(B, 3)], 1, {}, [(A, 1)], id="base-first"),
        pytest.param([StrategyItem(A, 1), StrategyItem(B, 1)], 4, {}, [(A, 2), (B, 2)], id="even"),
        pytest.param([StrategyItem(A, 1), StrategyItem(B, 1)], 1, {}, [(A, 1)], id="tie-first"),
        pytest.param(
            [StrategyItem(A, 1), StrategyItem(B, 1)], 1, {A: 3, B: 2}, [(B, 1)], id="catch-up"
        ),
        pytest.param(
            [StrategyItem(A, 0, 2), StrategyItem(B, 1)], 5, {}, [(A, 2), (B, 3)], id="base-only"
        ),
        pytest.param(
            [StrategyItem(A, 0, 2), StrategyItem(B, 1)], 2, {A: 2}, [(B, 2)], id="base-done"
        ),
        pytest.param([StrategyItem(A, 1)], 0, {}, [], id="nothing"),
        pytest.param(
            [StrategyItem(A, 1), StrategyItem(B, 0), StrategyItem(C, 2)],
            6,
            {},
            [(A, 2), (C, 4)],
            id="weight-0-gets-none",
        ),
    ],
)
def test_split(
    items: list[StrategyItem], count: int, existing: dict[str, int], expected: list[tuple[str, int]]
) -> None:
    assert split(items, count, existing) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            [{"capacityProvider": A, "base": 1}, {"capacityProvider": B, "base": 1, "weight": 1}],
            "Only one capacity provider",
            id="two-bases",
        ),
        pytest.param(
            [{"capacityProvider": A}, {"capacityProvider": B}],
            "at least one of them must have a weight",
            id="all-weight-0",
        ),
        pytest.param(
            [{"capacityProvider": A, "weight": 1}, {"capacityProvider": A, "weight": 1}],
            "duplicate",
            id="duplicate",
        ),
        pytest.param(
            [{"capacityProvider": "FARGATE", "weight": 1}, {"capacityProvider": A, "weight": 1}],
            "mix of capacity providers",
            id="fargate-mix",
        ),
        pytest.param(
            [{"capacityProvider": f"p{n}", "weight": 1} for n in range(21)],
            "maximum of 20",
            id="too-many",
        ),
        pytest.param([{"capacityProvider": A, "weight": 1001}], "weight", id="weight-range"),
    ],
)
def test_strategy_rules(raw: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidParameterException, match=message):
        parse_strategy_items(raw)


@st.composite
def strategies(draw: st.DrawFn) -> list[StrategyItem]:
    n = draw(st.integers(1, 4))
    weights = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    if n > 1 and not any(weights):
        weights[0] = 1
    based = draw(st.integers(-1, n - 1))
    base = draw(st.integers(0, 6))
    return [StrategyItem(f"p{i}", weights[i], base if i == based else 0) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(strategies(), st.integers(0, 40), st.lists(st.integers(1, 5), max_size=6))
def test_split_properties(items: list[StrategyItem], total: int, steps: list[int]) -> None:
    """One call of `total`, or the same total in steps (a service scaling up), gives the
    same split; bases come first; beyond the bases every share is close to its weight's
    exact share (D'Hondt's bounds); weight-0 providers get only their base."""
    once = dict(split(items, total, {}))
    assert sum(once.values()) == total
    stepped: dict[str, int] = {}
    left = total
    for step in [*steps, total]:
        n = min(step, left)
        for name, k in split(items, n, stepped):
            stepped[name] = stepped.get(name, 0) + k
        left -= n
    assert stepped == {k: v for k, v in once.items() if v}
    bases = sum(i.base for i in items)
    weights = {i.provider: i.weight for i in items}
    if not any(weights.values()):
        weights = dict.fromkeys(weights, 1)
    total_weight = sum(weights.values())
    for item in items:
        got = once.get(item.provider, 0)
        if total <= bases:
            assert got == (total if item.base else 0)
            continue
        beyond = got - item.base
        exact = (total - bases) * weights[item.provider] / total_weight
        # D'Hondt: never below the exact share's floor, above it by less than k - 1 seats
        assert beyond >= int(exact + 1e-9), (item, got, exact)
        assert beyond - exact < max(1, len(items) - 1), (item, got, exact)
