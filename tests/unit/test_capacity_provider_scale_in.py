"""Scale-in follows the capacity provider strategy: what remains keeps base/weight.

Pure: scheduler.providers.scale_in_providers, then its use in the scale-in pick and in
the service reconcile.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.controllers.services.model import DeploymentView, InstanceView, ServiceView, TaskView
from dockyard.controllers.services.reads import provider_strategy
from dockyard.controllers.services.reconcile import reconcile
from dockyard.controllers.services.scale_in import pick_for_scale_in
from dockyard.scheduler.providers import StrategyItem, scale_in_providers, split

A2_B3 = (StrategyItem("A", weight=1, base=2), StrategyItem("B", weight=3))
EVEN = (StrategyItem("A", weight=1), StrategyItem("B", weight=1))


@pytest.mark.parametrize(
    ("items", "placed", "available", "count", "expected"),
    [
        pytest.param(A2_B3, {"A": 4, "B": 6}, {"A": 4, "B": 6}, 4, ["B", "A", "B", "B"],
                     id="docstring-example-10-to-6"),
        pytest.param(A2_B3, {"A": 4, "B": 6}, {"A": 4, "B": 6}, 10,
                     ["B", "A", "B", "B", "B", "A", "B", "B", "A", "A"], id="to-zero-base-last"),
        pytest.param(EVEN, {"A": 5, "B": 1}, {"A": 5, "B": 1}, 2, ["A", "A"],
                     id="unbalanced-heavy-side-first"),
        pytest.param(EVEN, {"A": 2, "B": 2, "": 2}, {"A": 2, "B": 2, "": 2}, 3, ["", "", "B"],
                     id="tasks-outside-the-strategy-first-then-last-listed"),
        pytest.param(EVEN, {"A": 3, "B": 3}, {"A": 3}, 2, ["A", "A"],
                     id="protected-B-only-A-may-stop"),
        pytest.param(EVEN, {"A": 1, "B": 1}, {"A": 1, "B": 1}, 5, ["B", "A"],
                     id="no-more-than-available"),
        pytest.param(EVEN, {"A": 1}, {"A": 1}, 0, [], id="nothing-asked"),
        pytest.param((), {"A": 1}, {"A": 1}, 1, [], id="no-strategy"),
    ],
)  # fmt: skip
def test_scale_in_providers(
    items: tuple[StrategyItem, ...],
    placed: dict[str, int],
    available: dict[str, int],
    count: int,
    expected: list[str],
) -> None:
    assert scale_in_providers(items, placed, available, count) == expected


strategies = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=4
).map(
    lambda pairs: tuple(
        StrategyItem(f"p{i}", weight=w if len(pairs) == 1 else max(w, 1 if i == 0 else 0),
                     base=b if i == 0 else 0)
        for i, (w, b) in enumerate(pairs)
    )
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(items=strategies, total=st.integers(0, 40), data=st.data())
def test_scaling_in_from_the_strategy_split_stays_on_it(
    items: tuple[StrategyItem, ...], total: int, data: st.DataObject
) -> None:
    """From the split of `total` tasks, stopping k leaves exactly the split of total-k:
    scale-in is placement run backwards."""
    placed = dict(split(items, total))
    count = data.draw(st.integers(0, total))
    order = scale_in_providers(items, placed, placed, count)
    assert len(order) == count
    left = Counter(placed)
    left.subtract(order)
    assert +left == Counter(dict(split(items, total - count)))


@settings(max_examples=150, deadline=None)
@given(
    items=strategies,
    placed=st.dictionaries(st.sampled_from(["p0", "p1", "p2", "p3", "x"]), st.integers(0, 8)),
    data=st.data(),
)
def test_never_more_than_available_and_stops_what_it_can(
    items: tuple[StrategyItem, ...], placed: dict[str, int], data: st.DataObject
) -> None:
    available = {p: data.draw(st.integers(0, n)) for p, n in placed.items()}
    count = data.draw(st.integers(0, 20))
    order = Counter(scale_in_providers(items, placed, available, count))
    assert all(order[p] <= available.get(p, 0) for p in order)
    assert sum(order.values()) == min(count, sum(available.values()))


def task(arn: str, provider: str, created: float, **kw: Any) -> TaskView:
    return TaskView(
        arn, "d1", "RUNNING", "RUNNING", "i1", created_at=created, capacity_provider=provider, **kw
    )


TASKS = [
    task("a1", "A", 1),
    task("a2", "A", 2),
    task("a3", "A", 3),
    task("b1", "B", 4),
    task("b2", "B", 5),
    task("b3", "B", 6),
]
INSTANCES = {"i1": InstanceView("i1", "ACTIVE")}


def test_pick_follows_the_providers_then_newest_within() -> None:
    """Without providers the 3 newest (all B) would go; with A(base 1)/B(1:1) the split
    of 3 is A 2, B 1: stop A's newest and B's two newest."""
    plain = pick_for_scale_in(TASKS, TASKS, 3, (), INSTANCES)
    assert [t.arn for t in plain] == ["b3", "b2", "b1"]
    items = (StrategyItem("A", weight=1, base=1), StrategyItem("B", weight=1))
    picked = pick_for_scale_in(TASKS, TASKS, 3, (), INSTANCES, providers=items)
    assert sorted(t.arn for t in picked) == ["a3", "b2", "b3"]
    assert Counter(t.capacity_provider for t in TASKS if t not in picked) == {"A": 2, "B": 1}


def test_unhealthy_first_within_the_provider() -> None:
    sick = task("a0", "A", 0, health="UNHEALTHY", health_known=True)
    tasks = [sick, *TASKS[1:]]
    picked = pick_for_scale_in(tasks, tasks, 1, (), INSTANCES, providers=EVEN)
    assert [t.arn for t in picked] == ["b3"]  # B is listed last: ties stop from it
    tasks = [*TASKS, sick]  # A 4, B 3: A is above its share
    picked = pick_for_scale_in(tasks, tasks, 1, (), INSTANCES, providers=EVEN)
    assert [t.arn for t in picked] == ["a0"]


def test_reconcile_scales_in_by_the_strategy() -> None:
    service = ServiceView(
        "web",
        desired_count=2,
        capacity_provider_strategy=(StrategyItem("A", weight=1), StrategyItem("B", weight=1)),
    )
    plan = reconcile(
        service, [DeploymentView("d1", "PRIMARY", "td:1")], TASKS, [INSTANCES["i1"]], now=10.0
    )
    stopped = {s.task_arn for s in plan.stop}
    assert len(stopped) == 4
    kept = Counter(t.capacity_provider for t in TASKS if t.arn not in stopped)
    assert kept == {"A": 1, "B": 1}


def test_provider_strategy_reads_the_primary_deployment() -> None:
    service = {
        "capacityProviderStrategy": [{"capacityProvider": "old", "weight": 1, "base": 0}],
        "deployments": [
            {"status": "ACTIVE", "capacityProviderStrategy": []},
            {
                "status": "PRIMARY",
                "capacityProviderStrategy": [{"capacityProvider": "A", "weight": 2, "base": 1}],
            },
        ],
    }
    assert provider_strategy(service) == (StrategyItem("A", weight=2, base=1),)
    assert provider_strategy({"deployments": []}) == ()
