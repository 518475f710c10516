"""The service runner paces steps caused by task changes (controllers/services/runner.py):
a service stepped less than TASK_PACE_S ago is queued for then, not at once; other
changes (the service itself) still queue it at once."""

from __future__ import annotations

from typing import Any

from dockyard.context import ApiContext, Changed
from dockyard.controllers.services import runner as runner_module
from dockyard.controllers.services.loop import Outcome
from dockyard.controllers.services.runner import PACE_PER_TASK_S, TASK_PACE_S, ServiceRunner

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
SERVICE = "arn:aws:ecs:us-east-1:000000000000:service/c/web"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


def runner(clock: Clock) -> ServiceRunner:
    ctx: Any = ApiContext.__new__(ApiContext)  # resolve() reads no store for these changes
    r = ServiceRunner(ctx)
    r._pending = []  # not the start's "everything"
    r._loop = clock  # type: ignore[assignment]
    return r


def task_change() -> Changed:
    return Changed(task_groups=frozenset({(CLUSTER, "service:web")}))


def test_a_service_never_stepped_is_queued_at_once() -> None:
    clock = Clock()
    r = runner(clock)
    r.notify(task_change())
    r.resolve()
    assert r.queue.pop(clock.now) == SERVICE


def test_task_changes_right_after_a_step_wait_for_the_pace(monkeypatch: Any) -> None:
    clock = Clock()
    r = runner(clock)
    monkeypatch.setattr(runner_module, "reconcile_service", lambda ctx, arn: Outcome())
    r.queue.add(SERVICE)
    assert r.queue.pop(clock.now) == SERVICE
    r.process(SERVICE, clock.now)  # stepped at 100.0
    clock.now += 0.1
    for _ in range(20):  # a stream of agent reports
        r.notify(task_change())
        r.resolve()
    assert r.queue.pop(clock.now) is None
    clock.now = 100.0 + TASK_PACE_S
    assert r.queue.pop(clock.now) == SERVICE
    assert r.queue.pop(clock.now) is None  # once, however many reports came


def test_a_change_of_the_service_itself_is_not_paced(monkeypatch: Any) -> None:
    clock = Clock()
    r = runner(clock)
    monkeypatch.setattr(runner_module, "reconcile_service", lambda ctx, arn: Outcome())
    r.queue.add(SERVICE)
    r.queue.pop(clock.now)
    r.process(SERVICE, clock.now)
    r.notify(task_change())
    r.notify(Changed(services=frozenset({SERVICE})))  # UpdateService
    r.resolve()
    assert r.queue.pop(clock.now) == SERVICE


def test_a_gone_service_is_forgotten(monkeypatch: Any) -> None:
    """A step that finds the service gone (deleted, INACTIVE) drops its pacing entry,
    so deleted services do not pile up in the runner's memory."""
    clock = Clock()
    r = runner(clock)
    monkeypatch.setattr(runner_module, "reconcile_service", lambda ctx, arn: Outcome())
    r.queue.add(SERVICE)
    r.queue.pop(clock.now)
    r.process(SERVICE, clock.now)
    assert SERVICE in r._last_step  # a live service is remembered (paced)
    monkeypatch.setattr(runner_module, "reconcile_service", lambda ctx, arn: Outcome(gone=True))
    clock.now += 1.0
    r.process(SERVICE, clock.now)
    assert SERVICE not in r._last_step
    assert SERVICE not in r._live_tasks


def test_a_large_service_is_paced_by_its_size(monkeypatch: Any) -> None:
    """A step reads every live task of its service: a 1,000-task service is stepped for
    its tasks' changes at most once per TASK_PACE_S + 1,000 x PACE_PER_TASK_S."""
    clock = Clock()
    r = runner(clock)
    monkeypatch.setattr(
        runner_module, "reconcile_service", lambda ctx, arn: Outcome(live_tasks=1000)
    )
    r.queue.add(SERVICE)
    r.queue.pop(clock.now)
    r.process(SERVICE, clock.now)  # stepped at 100.0, 1,000 live tasks
    r.notify(task_change())
    r.resolve()
    pace = TASK_PACE_S + 1000 * PACE_PER_TASK_S
    assert pace > TASK_PACE_S
    assert r.queue.pop(100.0 + TASK_PACE_S) is None
    assert r.queue.pop(100.0 + pace) == SERVICE
