"""The EXTERNAL service step (`plan_task_sets`, pure) and the task set documents
(`services/task_sets.py`): table cases plus one convergence property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.controllers.services.model import InstanceView, ServiceView, TaskView
from dockyard.controllers.services.task_set_plan import (
    STABILIZING,
    STEADY,
    TaskSetChange,
    TaskSetView,
    plan_task_sets,
)
from dockyard.services import task_sets

SERVICE = ServiceView(name="web", desired_count=4)
HOME = InstanceView(arn="i-1", status="ACTIVE")
AWAY = InstanceView(arn="i-2", status="DRAINING")
NOW = 1000.0


def tasks(set_id: str, n: int, *, status: str = "RUNNING", on: str = "i-1") -> list[TaskView]:
    return [
        TaskView(
            arn=f"t-{set_id}-{on}-{status}-{i}",
            deployment_id=set_id,
            last_status=status,
            desired_status="RUNNING",
            instance_arn=on,
            created_at=float(i),
            started_at=float(i) if status == "RUNNING" else None,
        )
        for i in range(n)
    ]


def ts(set_id: str, desired: int, status: str = "ACTIVE", stability: str = STABILIZING) -> Any:
    return TaskSetView(id=set_id, status=status, desired=desired, stability_status=stability)


CASES = [
    pytest.param([ts("a", 4)], [], {"a": 4}, 0, id="new-set-starts-its-count"),
    pytest.param([ts("a", 4), ts("b", 2)], tasks("a", 4), {"b": 2}, 0, id="second-set-adds"),
    pytest.param([ts("a", 2)], tasks("a", 4), {}, 2, id="scaled-down-stops-extras"),
    pytest.param([ts("a", 0, "DRAINING")], tasks("a", 3), {}, 3, id="draining-stops-all"),
    pytest.param([ts("a", 2)], tasks("gone", 2), {"a": 2}, 2, id="tasks-of-no-set-stop"),
    pytest.param(
        [ts("a", 2)],
        tasks("a", 1, status="PENDING", on="i-2") + tasks("a", 1),
        {"a": 1},
        1,
        id="pending-on-draining-instance-stops",
    ),
    pytest.param(
        [ts("a", 2)],
        tasks("a", 2, on="i-2"),
        {"a": 2},
        0,
        id="running-away-waits-for-replacements",
    ),
    pytest.param(
        [ts("a", 2)],
        tasks("a", 2, on="i-2") + tasks("a", 2),
        {},
        2,
        id="running-away-stops-once-replaced",
    ),
]


@pytest.mark.parametrize(("sets", "existing", "starts", "stops"), CASES)
def test_one_step(
    sets: list[TaskSetView], existing: list[TaskView], starts: dict[str, int], stops: int
) -> None:
    result = plan_task_sets(SERVICE, sets, existing, [HOME, AWAY], NOW)
    assert {s.deployment_id: s.count for s in result.plan.start} == starts
    assert len(result.plan.stop) == stops
    assert len({s.task_arn for s in result.plan.stop}) == stops


def test_stability_and_removal() -> None:
    sets = [ts("a", 2, stability=STABILIZING), ts("b", 1, stability=STEADY), ts("c", 0, "DRAINING")]
    existing = tasks("a", 2) + tasks("b", 1, status="PENDING")
    result = plan_task_sets(SERVICE, sets, existing, [HOME], NOW)
    assert result.changes == [
        TaskSetChange("a", stability_status=STEADY),
        TaskSetChange("b", stability_status=STABILIZING),
        TaskSetChange("c", remove=True),
    ]
    assert not result.plan.steady
    steady = plan_task_sets(SERVICE, [ts("a", 2, stability=STEADY)], tasks("a", 2), [HOME], NOW)
    assert steady.changes == [] and steady.plan.steady
    assert steady.plan.events == ["(service web) has reached a steady state."]


def test_protected_tasks_are_kept_on_scale_in_but_not_when_draining() -> None:
    protected = [
        TaskView(f"p{i}", "a", "RUNNING", "RUNNING", "i-1", protected=True) for i in range(3)
    ]
    kept = plan_task_sets(SERVICE, [ts("a", 1)], protected, [HOME], NOW)
    assert kept.plan.stop == []
    drained = plan_task_sets(SERVICE, [ts("a", 0, "DRAINING")], protected, [HOME], NOW)
    assert len(drained.plan.stop) == 3


@pytest.mark.parametrize(
    ("desired", "percent", "expected"),
    [(4, 100.0, 4), (4, 50.0, 2), (3, 50.0, 2), (4, 57.5, 3), (10, 0.0, 0), (1, 0.1, 1)],
)
def test_computed_desired_count_rounds_up(desired: int, percent: float, expected: int) -> None:
    service = {"desiredCount": desired, "status": "ACTIVE"}
    task_set = {"status": "ACTIVE", "scale": {"value": percent, "unit": "PERCENT"}}
    assert task_sets.computed_desired_count(service, task_set) == expected
    assert task_sets.computed_desired_count(service, {**task_set, "status": "DRAINING"}) == 0


def test_primary_moves_and_the_service_follows() -> None:
    service: dict[str, Any] = {
        "serviceName": "web",
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
        "taskSets": [],
    }
    arn_of = "arn:aws:ecs:us-east-1:000000000000:{}".format
    first = task_sets.new_task_set(service, arn_of, {"taskDefinition": "td:1"}, NOW)
    service["taskSets"].append(first)
    second = task_sets.new_task_set(service, arn_of, {"taskDefinition": "td:2"}, NOW)
    service["taskSets"].append(second)
    assert (first["status"], second["status"]) == ("PRIMARY", "ACTIVE")
    assert first["taskSetArn"] == arn_of(f"task-set/c/web/{first['id']}")
    task_sets.make_primary(service, second, NOW + 1)
    assert (first["status"], second["status"]) == ("ACTIVE", "PRIMARY")
    assert service["taskDefinition"] == "td:2"
    assert task_sets.primary_fields(service) == {"taskDefinition": "td:2"}
    assert task_sets.find(service, second["taskSetArn"]) is second


@settings(max_examples=150, deadline=None)
@given(
    desired=st.lists(st.integers(0, 6), min_size=1, max_size=3),
    draining=st.lists(st.booleans(), min_size=3, max_size=3),
    initial=st.lists(st.integers(0, 6), min_size=3, max_size=3),
)
def test_applying_steps_converges_to_each_sets_count(
    desired: list[int], draining: list[bool], initial: list[int]
) -> None:
    """Simulated: starts become RUNNING, stops become STOPPED; within a few steps every
    set has exactly its count (0 when DRAINING, then removed) and the plan is steady."""
    sets = [
        ts(f"s{i}", 0 if draining[i] else d, "DRAINING" if draining[i] else "ACTIVE")
        for i, d in enumerate(desired)
    ]
    live = [t for i, s in enumerate(sets) for t in tasks(s.id, initial[i])]
    counter = 0
    for _ in range(5):
        result = plan_task_sets(SERVICE, sets, live, [HOME], NOW)
        stopped = {s.task_arn for s in result.plan.stop}
        live = [t for t in live if t.arn not in stopped]
        for start in result.plan.start:
            for _ in range(start.count):
                counter += 1
                live.append(
                    TaskView(f"n{counter}", start.deployment_id, "RUNNING", "RUNNING", "i-1")
                )
        removed = {c.id for c in result.changes if c.remove}
        sets = [s for s in sets if s.id not in removed]
    final = plan_task_sets(SERVICE, sets, live, [HOME], NOW)
    assert final.plan.start == [] and final.plan.stop == []
    for s in sets:
        assert sum(t.deployment_id == s.id for t in live) == s.desired
    assert all(s.status != "DRAINING" for s in sets)
