"""A service step places at most MAX_STARTS_PER_STEP tasks (controllers/services/loop.py)
and asks for another step at once (`Outcome.more`), so a scale-up of hundreds of tasks
does not hold the event loop in one long transaction; the runner queues it again now,
behind the services already queued (runner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.ecs.services import create_service
from dockyard.context import ApiContext
from dockyard.controllers.services import runner as runner_module
from dockyard.controllers.services.loop import Outcome, reconcile_service
from dockyard.controllers.services.runner import ServiceRunner
from dockyard.store import Kind
from tests.unit.small_cluster import small_cluster


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApiContext]:
    ctx = small_cluster(tmp_path, instances=4, cpu=4096, memory=65536, seed=3)
    yield ctx
    ctx.store.close()


def live_tasks(ctx: ApiContext) -> int:
    with ctx.store.read() as tx:
        return tx.count(Kind.TASK, {"task_group": "service:web", "desired_status": "RUNNING"})


def test_a_step_places_at_most_its_budget_then_asks_for_more(
    ctx: ApiContext, monkeypatch: Any
) -> None:
    monkeypatch.setattr("dockyard.controllers.services.loop.MAX_STARTS_PER_STEP", 40)
    arn = create_service(
        ctx, {"cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 90}
    )["service"]["serviceArn"]
    counts, more = [], []
    for _ in range(4):
        outcome = reconcile_service(ctx, arn)
        counts.append(live_tasks(ctx))
        more.append(outcome.more)
    assert counts == [40, 80, 90, 90]
    assert more == [True, True, False, False]
    with ctx.store.read() as tx:
        events = [e["message"] for e in (tx.get(Kind.SERVICE, arn) or {})["events"]]
    started = [m for m in events if "has started" in m]
    # one event per 10 tasks at most (ECS's batches): 40 + 40 + 10 tasks -> 4 + 4 + 1 events
    assert len(started) == 9 and all("has started 10 tasks" in m for m in started)
    assert sum(m.count("(task ") for m in started) == 90


def test_the_runner_queues_a_capped_service_again_at_once(monkeypatch: Any) -> None:
    service = "arn:aws:ecs:us-east-1:000000000000:service/c/web"
    ctx: Any = ApiContext.__new__(ApiContext)
    r = ServiceRunner(ctx)
    r._pending = []
    outcomes = iter([Outcome(more=True, settled=False, progressed=True), Outcome()])
    monkeypatch.setattr(runner_module, "reconcile_service", lambda ctx, arn: next(outcomes))
    r.queue.add(service)
    assert r.queue.pop(0.0) == service
    r.process(service, 0.0)
    assert r.queue.pop(0.0) == service  # not after INTERVAL_S: now
    r.process(service, 0.0)
    assert r.queue.pop(0.0) is None
