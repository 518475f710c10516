"""Scale-in order (controllers/services/scale_in.py) and protection in the REPLICA step."""

from __future__ import annotations

import pytest

from dockyard.controllers.services.model import DeploymentView, InstanceView, ServiceView, TaskView
from dockyard.controllers.services.reconcile import reconcile
from dockyard.controllers.services.scale_in import pick_for_scale_in
from dockyard.scheduler.rank import Stage

AZ = "ecs.availability-zone"
INSTANCES = {
    "i1": InstanceView(
        "i1", "ACTIVE", attributes=((AZ, "a"),), remaining_cpu=100, remaining_memory=900
    ),
    "i2": InstanceView(
        "i2", "ACTIVE", attributes=((AZ, "a"),), remaining_cpu=500, remaining_memory=100
    ),
    "i3": InstanceView(
        "i3", "ACTIVE", attributes=((AZ, "b"),), remaining_cpu=900, remaining_memory=500
    ),
}


def task(arn: str, instance: str, created: float = 0.0, **kw: object) -> TaskView:
    return TaskView(arn, "d1", "RUNNING", "RUNNING", instance, created_at=created, **kw)  # type: ignore[arg-type]


TASKS = [task("t1", "i1", 1), task("t2", "i1", 2), task("t3", "i2", 3), task("t4", "i3", 4)]


@pytest.mark.parametrize(
    ("strategy", "count", "expected"),
    [
        pytest.param((), 2, ["t4", "t3"], id="no-strategy-newest-first"),
        pytest.param((Stage("spread", AZ),), 1, ["t3"], id="spread-az-crowded-a-newest"),
        pytest.param((Stage("spread", AZ),), 2, ["t3", "t2"], id="spread-az-recounts"),
        pytest.param((Stage("spread", None),), 1, ["t2"], id="spread-instance-i1-has-two"),
        pytest.param((Stage("binpack", "cpu"),), 1, ["t4"], id="binpack-cpu-most-remaining"),
        pytest.param((Stage("binpack", "memory"),), 1, ["t2"], id="binpack-memory"),
    ],
)
def test_scale_in_order(strategy: tuple[Stage, ...], count: int, expected: list[str]) -> None:
    picked = pick_for_scale_in(TASKS, TASKS, count, strategy, INSTANCES)
    assert [t.arn for t in picked] == expected


def test_unhealthy_first_whatever_the_strategy() -> None:
    sick = task("t9", "i3", 0, health="UNHEALTHY", health_known=True)
    picked = pick_for_scale_in([*TASKS, sick], [*TASKS, sick], 1, (Stage("spread", AZ),), INSTANCES)
    assert [t.arn for t in picked] == ["t9"]


def test_reconcile_never_stops_protected_tasks_to_scale_in() -> None:
    tasks = [
        task("t1", "i1", 1),
        task("t2", "i2", 2, protected=True),
        task("t3", "i3", 3, protected=True),
    ]
    plan = reconcile(
        ServiceView("web", desired_count=0),
        [DeploymentView("d1", "PRIMARY", "td:1")],
        tasks,
        list(INSTANCES.values()),
        now=10.0,
    )
    assert [s.task_arn for s in plan.stop] == ["t1"]
    draining = reconcile(
        ServiceView("web", desired_count=0, status="DRAINING"),
        [DeploymentView("d1", "PRIMARY", "td:1")],
        tasks,
        list(INSTANCES.values()),
        now=10.0,
    )
    assert sorted(s.task_arn for s in draining.stop) == ["t1", "t2", "t3"]
