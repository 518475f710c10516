"""The service reconcile, table-driven: one step from a given state to the expected plan.

Each case names a state (service, deployments, tasks, instances, now) and the parts
of the Plan it pins; parts left as None are not checked. Properties over whole
rollouts are in test_service_reconcile_properties.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from dockyard.controllers.services.context import (
    CIRCUIT_BREAKER_REASON,
    HEALTH_REASON,
    completed_message,
    failed_message,
    rollback_message,
    steady_message,
    stuck_message,
)
from dockyard.controllers.services.model import (
    DeploymentChange,
    DeploymentView,
    InstanceView,
    Plan,
    ServiceView,
    Start,
    TaskView,
)
from dockyard.controllers.services.reconcile import reconcile

NAME = "web"
OLD = DeploymentView("ecs-svc/old", "ACTIVE", "web:1", rollout_state="COMPLETED", created_at=1.0)
NEW = DeploymentView("ecs-svc/new", "PRIMARY", "web:2", created_at=2.0)
DONE = replace(NEW, rollout_state="COMPLETED")
I1, I2, I3, I4 = (f"arn:ci/{n}" for n in range(1, 5))
ONE = [InstanceView(I1, "ACTIVE")]
TWO = [InstanceView(I1, "ACTIVE"), InstanceView(I2, "ACTIVE")]
I2_DRAINING = [InstanceView(I1, "ACTIVE"), InstanceView(I2, "DRAINING")]
SCALING = f"Scaling activity initiated by (deployment {NEW.id})"
DRAINING = f"Service {NAME}: container instance is in DRAINING state"
NOW = 100.0


def svc(desired: int, min_pct: int = 100, max_pct: int = 200, **kw: Any) -> ServiceView:
    return ServiceView(
        NAME, desired, minimum_healthy_percent=min_pct, maximum_percent=max_pct, **kw
    )


def task(
    arn: str,
    deployment: DeploymentView = NEW,
    status: str = "RUNNING",
    *,
    desired: str = "RUNNING",
    instance: str = I1,
    created: float = 10.0,
    health: str | None = None,
) -> TaskView:
    started = None if status in {"PROVISIONING", "PENDING", "ACTIVATING"} else created + 1
    return TaskView(
        arn=arn,
        deployment_id=deployment.id,
        last_status=status,
        desired_status=desired,
        instance_arn=instance,
        created_at=created,
        started_at=started,
        health=health or "UNKNOWN",
        health_known=health is not None,
    )


def olds(n: int, **kw: Any) -> list[TaskView]:
    return [task(f"old-{i}", OLD, created=float(i), **kw) for i in range(1, n + 1)]


def news(n: int, **kw: Any) -> list[TaskView]:
    return [task(f"new-{i}", NEW, created=20.0 + i, **kw) for i in range(1, n + 1)]


def failed(n: int) -> list[TaskView]:
    return [
        replace(task(f"bad-{i}", NEW, "STOPPED", desired="STOPPED"), started_at=None)
        for i in range(1, n + 1)
    ]


@dataclass
class Expect:
    start: list[Start] | None = None
    stop: list[str] | None = None  # task ARNs, in the plan's order
    reasons: dict[str, str] = field(default_factory=dict)
    deployments: list[DeploymentChange] | None = None
    events: list[str] | None = None
    steady: bool | None = None


@dataclass
class Case:
    service: ServiceView
    tasks: Sequence[TaskView]
    expect: Expect
    deployments: Sequence[DeploymentView] = (OLD, NEW)
    instances: Sequence[InstanceView] = field(default_factory=lambda: list(TWO))
    now: float = NOW


def check(plan: Plan, expect: Expect) -> None:
    if expect.start is not None:
        assert plan.start == expect.start
    if expect.stop is not None:
        assert [s.task_arn for s in plan.stop] == expect.stop
    reasons = {s.task_arn: s.reason for s in plan.stop}
    for arn, reason in expect.reasons.items():
        assert reasons[arn] == reason
    if expect.deployments is not None:
        assert plan.deployments == expect.deployments
    if expect.events is not None:
        assert plan.events == expect.events
    if expect.steady is not None:
        assert plan.steady is expect.steady


INACTIVE_OLD = DeploymentChange(OLD.id, status="INACTIVE")
STUCK_100_100 = stuck_message(svc(2, 100, 100), 2)

REPLICA_CASES = [
    pytest.param(
        Case(svc(3), [], Expect(start=[Start(NEW.id, 3)], stop=[], steady=False)),
        id="scale-up-from-0",
    ),
    pytest.param(
        Case(svc(3), news(1), Expect(start=[Start(NEW.id, 2)], stop=[])),
        id="scale-up-1-to-3",
    ),
    pytest.param(
        Case(
            svc(1),
            [
                task("a", created=1.0),
                task("b", created=3.0),
                task("c", status="PENDING", created=2.0),
            ],
            Expect(start=[], stop=["c", "b"], reasons={"b": SCALING, "c": SCALING}),
        ),
        id="scale-down-3-to-1-pending-then-newest",
    ),
    pytest.param(
        Case(
            svc(2),
            [task("a"), task("b", status="STOPPED", desired="STOPPED")],
            Expect(start=[Start(NEW.id, 1)], stop=[], deployments=[INACTIVE_OLD]),
        ),
        id="replace-stopped-task",
    ),
    pytest.param(
        Case(
            svc(2),
            [task("a"), task("b", status="STOPPING", desired="STOPPED")],
            Expect(start=[Start(NEW.id, 1)], stop=[]),
        ),
        id="stopping-task-counts-toward-max-only",
    ),
    pytest.param(
        Case(
            svc(2, 100, 100),
            [task("a"), task("b", status="STOPPING", desired="STOPPED")],
            Expect(start=[], stop=[], events=[]),
        ),
        id="stopping-task-holds-its-place-at-max-100",
    ),
    pytest.param(
        Case(
            svc(4, 50, 200),
            olds(4),
            Expect(start=[Start(NEW.id, 4)], stop=["old-1", "old-2"], reasons={"old-1": SCALING}),
        ),
        id="deploy-50-200-start-4-stop-2",
    ),
    pytest.param(
        Case(
            svc(4, 50, 200),
            [*olds(2), *news(4)],
            Expect(start=[], stop=["old-1", "old-2"]),
        ),
        id="deploy-50-200-second-step",
    ),
    pytest.param(
        Case(svc(4, 100, 200), olds(4), Expect(start=[Start(NEW.id, 4)], stop=[])),
        id="deploy-100-200-start-all-stop-none",
    ),
    pytest.param(
        Case(
            svc(4, 100, 200),
            [*olds(4), *news(2), *news(4, status="PENDING")[2:]],
            Expect(start=[], stop=["old-1", "old-2"]),
        ),
        id="deploy-100-200-stop-as-new-turn-healthy",
    ),
    pytest.param(
        Case(svc(3, 0, 100), olds(3), Expect(start=[], stop=["old-1", "old-2", "old-3"])),
        id="deploy-0-100-stop-first",
    ),
    pytest.param(
        Case(
            svc(3, 0, 100),
            olds(3, status="STOPPED", desired="STOPPED"),
            Expect(start=[Start(NEW.id, 3)], stop=[], deployments=[INACTIVE_OLD]),
        ),
        id="deploy-0-100-then-start",
    ),
    pytest.param(
        Case(
            svc(3, 50, 150),
            olds(3),
            # max floor(4.5) = 4 -> room 1; min ceil(1.5) = 2 -> budget 1
            Expect(start=[Start(NEW.id, 1)], stop=["old-1"]),
        ),
        id="deploy-50-150-rounding",
    ),
    pytest.param(
        Case(
            svc(2, 100, 100),
            olds(2),
            Expect(start=[], stop=[], events=[STUCK_100_100], steady=False),
        ),
        id="deploy-100-100-stuck-event",
    ),
    pytest.param(
        Case(
            svc(2, 100, 100, last_event=STUCK_100_100),
            olds(2),
            Expect(start=[], stop=[], events=[]),
        ),
        id="deploy-100-100-stuck-event-not-repeated",
    ),
    pytest.param(
        Case(
            svc(2, 100, 100),
            [*olds(1), *news(1, status="PENDING")],
            Expect(start=[], stop=[], events=[]),
        ),
        id="waiting-for-pending-is-not-stuck",
    ),
    pytest.param(
        Case(
            svc(2, 100, 200),
            [*olds(2, health="HEALTHY"), *olds(3, health="UNKNOWN")[2:]],
            # old-3 is RUNNING but not known healthy: stopping it is free
            Expect(start=[Start(NEW.id, 1)], stop=["old-3"]),
        ),
        id="not-yet-healthy-old-task-stops-first",
    ),
    pytest.param(
        Case(
            svc(2, health_check_grace_s=30.0),
            [task("sick", health="UNHEALTHY", created=10.0), task("ok", health="HEALTHY")],
            Expect(start=[Start(NEW.id, 1)], stop=["sick"], reasons={"sick": HEALTH_REASON}),
            now=50.0,
        ),
        id="unhealthy-past-grace-replaced",
    ),
    pytest.param(
        Case(
            svc(2, health_check_grace_s=30.0),
            [task("sick", health="UNHEALTHY", created=10.0), task("ok", health="HEALTHY")],
            Expect(start=[], stop=[]),
            now=30.0,
        ),
        id="unhealthy-within-grace-kept",
    ),
    pytest.param(
        Case(
            svc(2),
            [task("a"), task("p", status="PENDING", instance=I2)],
            Expect(start=[Start(NEW.id, 1)], stop=["p"], reasons={"p": DRAINING}),
            instances=I2_DRAINING,
        ),
        id="draining-instance-pending-stops-at-once",
    ),
    pytest.param(
        Case(
            svc(2),
            [task("a"), task("d", instance=I2)],
            Expect(start=[Start(NEW.id, 1)], stop=[]),
            instances=I2_DRAINING,
        ),
        id="draining-instance-running-waits-for-replacement",
    ),
    pytest.param(
        Case(
            svc(2),
            [task("a"), task("d", instance=I2), task("r", created=30.0)],
            Expect(start=[], stop=["d"], reasons={"d": DRAINING}),
            instances=I2_DRAINING,
        ),
        id="draining-instance-running-stops-once-replaced",
    ),
    pytest.param(
        Case(
            svc(2, 100, 100),
            [task("a"), task("d", instance=I2)],
            Expect(start=[], stop=[], events=[STUCK_100_100]),
            instances=I2_DRAINING,
        ),
        id="draining-instance-100-100-stuck",
    ),
    pytest.param(
        Case(
            svc(2, 50, 100),
            [task("a"), task("d", instance=I2)],
            Expect(start=[], stop=["d"]),
            instances=I2_DRAINING,
        ),
        id="draining-instance-50-100-stop-then-replace",
    ),
    pytest.param(
        Case(
            svc(2),
            news(2),
            Expect(
                start=[],
                stop=[],
                deployments=[
                    DeploymentChange(NEW.id, rollout_state="COMPLETED"),
                    INACTIVE_OLD,
                ],
                events=[completed_message(NAME, NEW.id), steady_message(NAME)],
                steady=True,
            ),
        ),
        id="deployment-completed-and-steady",
    ),
    pytest.param(
        Case(
            svc(2),
            news(2),
            Expect(deployments=[], events=[steady_message(NAME)], steady=True),
            deployments=[DONE],
        ),
        id="steady-state-event",
    ),
    pytest.param(
        Case(
            svc(2, last_event=steady_message(NAME)),
            news(2),
            Expect(deployments=[], events=[], steady=True),
            deployments=[DONE],
        ),
        id="steady-state-event-once",
    ),
    pytest.param(
        Case(
            svc(2),
            news(2, health="UNKNOWN"),
            Expect(start=[], stop=[], deployments=[INACTIVE_OLD], events=[], steady=False),
        ),
        id="not-steady-until-healthy",
    ),
    pytest.param(
        Case(
            svc(1, 0, 100),
            [task("stray", DeploymentView("ecs-svc/gone", "ACTIVE", "web:0"))],
            Expect(start=[], stop=["stray"], reasons={"stray": SCALING}),
        ),
        id="task-of-unknown-deployment-replaced",
    ),
    pytest.param(
        Case(
            svc(2),
            news(2),
            Expect(deployments=[DeploymentChange("ecs-svc/older", status="ACTIVE")], steady=True),
            deployments=[replace(NEW, id="ecs-svc/older", created_at=0.5), DONE],
        ),
        id="two-primaries-the-newest-leads",
    ),
    pytest.param(
        Case(
            svc(2, status="DRAINING"),
            [*olds(1), *news(2)],
            Expect(start=[], stop=["new-2", "new-1", "old-1"], events=[], steady=False),
        ),
        id="draining-service-stops-everything",
    ),
]


def run(case: Case) -> None:
    plan = reconcile(case.service, case.deployments, case.tasks, case.instances, case.now)
    check(plan, case.expect)
    # Pure and order-independent: the same state, listed backwards, gives the same plan.
    again = reconcile(
        case.service, case.deployments[::-1], case.tasks[::-1], case.instances[::-1], case.now
    )
    assert again == plan


@pytest.mark.parametrize("case", REPLICA_CASES)
def test_replica_step(case: Case) -> None:
    run(case)


BREAKER = {"circuit_breaker_enable": True}
ROLLBACK = {"circuit_breaker_enable": True, "circuit_breaker_rollback": True}
FAILED = DeploymentChange(
    NEW.id, rollout_state="FAILED", rollout_state_reason=CIRCUIT_BREAKER_REASON, failed_tasks=3
)
ROLLBACK_ID = NEW.id + "-rollback"

BREAKER_CASES = [
    pytest.param(
        Case(
            svc(4, **BREAKER),
            [*olds(4), *failed(2)],
            Expect(
                start=[Start(NEW.id, 4)],
                deployments=[DeploymentChange(NEW.id, failed_tasks=2)],
                events=[],
            ),
        ),
        id="breaker-below-threshold-counts",
    ),
    pytest.param(
        Case(
            svc(4, **BREAKER),
            [*olds(4), *failed(3)],
            Expect(
                start=[],
                stop=[],
                deployments=[FAILED],
                events=[failed_message(NAME, NEW.id)],
            ),
        ),
        id="breaker-threshold-3-of-4-fails-without-rollback",
    ),
    pytest.param(
        Case(
            svc(10, **BREAKER),
            [*olds(10), *failed(4)],
            Expect(start=[Start(NEW.id, 10)], events=[]),
        ),
        id="breaker-threshold-is-half-of-10",
    ),
    pytest.param(
        Case(
            svc(4, **ROLLBACK),
            [*olds(4), *failed(3)],
            Expect(
                start=[],
                stop=[],
                deployments=[
                    replace(FAILED, status="ACTIVE"),
                    DeploymentChange(
                        ROLLBACK_ID,
                        status="PRIMARY",
                        new_task_definition="web:1",
                        rollback_of=NEW.id,
                        rollback_to=OLD.id,
                    ),
                ],
                events=[
                    failed_message(NAME, NEW.id),
                    rollback_message(NAME, NEW.id, ROLLBACK_ID),
                ],
            ),
        ),
        id="breaker-rollback-to-completed",
    ),
    pytest.param(
        Case(
            svc(4, **ROLLBACK),
            failed(3),
            Expect(deployments=[FAILED], events=[failed_message(NAME, NEW.id)]),
            deployments=[NEW],
        ),
        id="breaker-rollback-without-target-just-fails",
    ),
    pytest.param(
        Case(
            svc(4, **ROLLBACK),
            [*news(2), *failed(1)],
            Expect(
                start=[Start(NEW.id, 2)], deployments=[DeploymentChange(NEW.id, failed_tasks=1)]
            ),
        ),
        id="rollback-target-kept-while-in-progress",
    ),
    pytest.param(
        Case(
            svc(4, **BREAKER),
            [*olds(4), *failed(1)],
            # 2 stored, 1 still listed (the store purged one): the count never goes down
            Expect(start=[Start(NEW.id, 4)], deployments=[]),
            deployments=[OLD, replace(NEW, failed_tasks=2)],
        ),
        id="breaker-count-never-decreases",
    ),
    pytest.param(
        Case(
            svc(4),
            [*olds(2), *news(1)],
            Expect(start=[], stop=[], deployments=[], events=[]),
            deployments=[OLD, replace(NEW, rollout_state="FAILED", failed_tasks=3)],
        ),
        id="failed-primary-starts-nothing-keeps-healthy",
    ),
    pytest.param(
        Case(
            svc(1),
            [*olds(2), *news(1)],
            Expect(start=[], stop=["old-1", "old-2"]),
            deployments=[OLD, replace(NEW, rollout_state="FAILED", failed_tasks=3)],
        ),
        id="failed-primary-still-scales-in",
    ),
]


@pytest.mark.parametrize("case", BREAKER_CASES)
def test_circuit_breaker_step(case: Case) -> None:
    run(case)


def dsvc(min_pct: int = 0, **kw: Any) -> ServiceView:
    return svc(0, min_pct, 100, scheduling_strategy="DAEMON", **kw)


FOUR = [InstanceView(arn, "ACTIVE") for arn in (I1, I2, I3, I4)]

DAEMON_CASES = [
    pytest.param(
        Case(
            dsvc(),
            [task("a", instance=I1)],
            Expect(start=[Start(NEW.id, 1, instance_arn=I2)], stop=[]),
        ),
        id="daemon-new-instance-gets-a-task",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("a", instance=I1), task("b", instance=I2)],
            Expect(start=[], stop=["b"], reasons={"b": DRAINING}),
            instances=I2_DRAINING,
        ),
        id="daemon-draining-instance-loses-its-task",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("a", instance=I1), task("b", instance=I2)],
            Expect(start=[], stop=["b"]),
            instances=[InstanceView(I1, "ACTIVE"), InstanceView(I2, "ACTIVE", eligible=False)],
        ),
        id="daemon-ineligible-instance-loses-its-task",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("o1", OLD, instance=I1), task("o2", OLD, status="STOPPED", instance=I2)],
            Expect(start=[Start(NEW.id, 1, instance_arn=I2)], stop=["o1"]),
        ),
        id="daemon-rollout-min-0-stop-old-then-start",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("o1", OLD, status="STOPPING", desired="STOPPED", instance=I1)],
            Expect(start=[Start(NEW.id, 1, instance_arn=I2)], stop=[]),
        ),
        id="daemon-never-two-on-one-instance",
    ),
    pytest.param(
        Case(
            dsvc(50),
            [task(f"o{n}", OLD, instance=i.arn, created=n) for n, i in enumerate(FOUR)],
            Expect(start=[], stop=["o0", "o1"]),
            instances=FOUR,
        ),
        id="daemon-rollout-min-50-of-4",
    ),
    pytest.param(
        Case(
            dsvc(50),
            [
                task("o0", OLD, "STOPPED", instance=I1),
                task("o1", OLD, "STOPPED", instance=I2),
                task("o2", OLD, instance=I3),
                task("o3", OLD, instance=I4),
                task("n0", NEW, "PENDING", instance=I1),
            ],
            Expect(start=[Start(NEW.id, 1, instance_arn=I2)], stop=[]),
            instances=FOUR,
        ),
        id="daemon-rollout-min-50-waits-for-healthy",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("a", instance=I1), task("b", instance=I2)],
            Expect(start=[], stop=[], steady=True, events=[steady_message(NAME)]),
            deployments=[DONE],
        ),
        id="daemon-steady",
    ),
    pytest.param(
        Case(
            dsvc(),
            [task("o1", OLD, instance=I1)],
            Expect(start=[], stop=[], events=[]),
            deployments=[OLD, replace(NEW, rollout_state="FAILED")],
        ),
        id="daemon-failed-primary-keeps-old",
    ),
    pytest.param(
        Case(
            dsvc(100),
            [task("o1", OLD, instance=I1), task("o2", OLD, instance=I2)],
            Expect(start=[], stop=[], events=[stuck_message(dsvc(100), 2)]),
        ),
        id="daemon-min-100-stuck",
    ),
]


@pytest.mark.parametrize("case", DAEMON_CASES)
def test_daemon_step(case: Case) -> None:
    run(case)


def test_no_primary_plans_nothing() -> None:
    assert reconcile(svc(2), [OLD], olds(2), TWO, NOW).empty
