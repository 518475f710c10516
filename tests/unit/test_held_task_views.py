"""A service step's views of its live tasks are kept between steps (reads.held_task_views):
made again only for a task written since, equal to views built from the documents, and
never kept for a protected task (its view follows the clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.ecs.services import create_service
from dockyard.context import ApiContext
from dockyard.controllers.services import reads
from dockyard.controllers.services.loop import reconcile_service
from dockyard.controllers.services.model import TaskView
from dockyard.store import Kind
from dockyard.tasks.protection import PROTECTION_FIELD
from dockyard.tasks.reports import apply_reports
from tests.unit.small_cluster import small_cluster

NOW = 1_000.0


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApiContext]:
    ctx = small_cluster(tmp_path, instances=2, cpu=4096, memory=8192, seed=5)
    yield ctx
    ctx.store.close()


def _service(ctx: ApiContext) -> dict[str, Any]:
    arn = create_service(
        ctx, {"cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 6}
    )["service"]["serviceArn"]
    reconcile_service(ctx, arn)
    with ctx.store.read() as tx:
        service = tx.get(Kind.SERVICE, arn)
    assert service is not None
    return service


def _views(
    ctx: ApiContext, service: dict[str, Any], now: float = NOW
) -> tuple[list[TaskView], list[TaskView]]:
    """(held views, views built from the documents), in one write transaction."""
    with ctx.store.transaction() as tx:
        held = reads.held_task_views(tx, service, {}, now)
        docs, _ = reads.task_rows(tx, service, reads.deployment_views(service))
        built = reads.task_views(tx, docs, {}, {}, balanced=False, now=now)
    assert held is not None
    return held, built


def test_views_are_kept_until_their_task_is_written(ctx: ApiContext) -> None:
    service = _service(ctx)
    first, built = _views(ctx, service)
    assert len(first) == 6 and first == built
    second, _ = _views(ctx, service)
    assert all(a is b for a, b in zip(first, second, strict=True))  # kept, not rebuilt
    moved = first[2]
    with ctx.store.transaction() as tx:  # its agent reports it RUNNING
        changed = apply_reports(
            tx, [{"taskArn": moved.arn, "lastStatus": "RUNNING"}], moved.instance_arn, NOW
        )
    assert [t["taskArn"] for t in changed] == [moved.arn]
    third, built = _views(ctx, service)
    assert third == built
    assert third[2] is not moved and third[2].last_status == "RUNNING"
    assert all(a is b for i, (a, b) in enumerate(zip(first, third, strict=True)) if i != 2)


def test_a_stopped_task_leaves_and_a_protected_task_follows_the_clock(ctx: ApiContext) -> None:
    service = _service(ctx)
    views, _ = _views(ctx, service)
    gone, guarded = views[0], views[1]
    with ctx.store.transaction() as tx:
        apply_reports(tx, [{"taskArn": gone.arn, "lastStatus": "STOPPED"}], gone.instance_arn, NOW)
        task = tx.get(Kind.TASK, guarded.arn)
        assert task is not None
        task[PROTECTION_FIELD] = {"enabled": True, "expiresAt": NOW + 60}
        tx.update(Kind.TASK, guarded.arn, task)
    held, built = _views(ctx, service)
    assert held == built and gone.arn not in {v.arn for v in held}
    protected = next(v for v in held if v.arn == guarded.arn)
    assert protected.protected
    later, built = _views(ctx, service, now=NOW + 120)  # expired: no longer protected
    assert later == built
    assert not next(v for v in later if v.arn == guarded.arn).protected
