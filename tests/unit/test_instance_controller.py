"""Host-lost planning (pure) and the in-memory set of away instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.context import ApiContext
from dockyard.controllers.instances import (
    Away,
    InstanceSettings,
    disconnected_since,
    give_up_lost_hosts,
    lost_reason,
    plan_lost_hosts,
)
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url


@pytest.mark.parametrize(
    ("doc", "lost"),
    [
        pytest.param({"agentConnected": True, "disconnectedAt": 0.0}, False, id="connected"),
        pytest.param({"agentConnected": False, "disconnectedAt": 100.0}, False, id="within-grace"),
        pytest.param({"agentConnected": False, "disconnectedAt": 39.0}, True, id="past-grace"),
        pytest.param({"agentConnected": False, "disconnectedAt": 40.0}, False, id="exactly-grace"),
        pytest.param({"agentConnected": False}, False, id="never-seen"),
    ],
)
def test_plan_lost_hosts(doc: dict[str, object], lost: bool) -> None:
    doc = {"containerInstanceArn": "arn:x", **doc}
    assert plan_lost_hosts([doc], now=100.0, grace_s=60.0) == (["arn:x"] if lost else [])


def test_reason_names_the_host() -> None:
    assert "i-123" in lost_reason({"ec2InstanceId": "i-123"}, 60.0)
    assert "60 seconds" in lost_reason({"ec2InstanceId": "i-123"}, 60.0)


@pytest.mark.parametrize(
    ("since", "due"),
    [
        pytest.param({}, [], id="nobody-away"),
        pytest.param({"a": 100.0}, [], id="within-grace"),
        pytest.param({"a": 40.0}, [], id="exactly-grace"),
        pytest.param({"a": 39.0, "b": 90.0, "c": 0.0}, ["a", "c"], id="past-grace"),
    ],
)
def test_away_due(since: dict[str, float], due: list[str]) -> None:
    away = Away()
    away.seed(since)
    assert away.due(now=100.0, grace_s=60.0) == due


def test_away_follows_connects_and_disconnects() -> None:
    away = Away()
    away.seed({"a": 1.0, "b": 2.0})
    away.connected("a")
    away.disconnected("c", 5.0)
    away.disconnected("b", 7.0)  # a later disconnect restarts the grace period
    assert away.since == {"b": 7.0, "c": 5.0}
    away.forget("zzz")  # unknown: no error
    assert away.due(now=66.0, grace_s=60.0) == ["c"]


def _register(ctx: ApiContext, ec2: str) -> str:
    from dockyard.api.ecs.container_instances import register_container_instance

    resources = [
        {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
    ]
    result = register_container_instance(
        ctx,
        {"cluster": "default", "instanceIdentityDocument": f'{{"instanceId": "{ec2}"}}',
         "totalResources": resources},
    )  # fmt: skip
    return str(result["containerInstance"]["containerInstanceArn"])


def _run_one(ctx: ApiContext, instance_arn: str) -> str:
    """A RUNNING task on the instance (placed while its agent is up, then reported)."""
    from dockyard.api.ecs.task_definitions import register_task_definition
    from dockyard.api.ecs.tasks import start_task
    from dockyard.tasks.reports import apply_reports

    with ctx.store.transaction() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
        assert doc is not None
        doc["agentConnected"] = True
        tx.update(Kind.CONTAINER_INSTANCE, instance_arn, doc)
    register_task_definition(
        ctx,
        {
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 64}],
        },
    )
    out = start_task(
        ctx, {"cluster": "default", "taskDefinition": "web", "containerInstances": [instance_arn]}
    )
    assert len(out["tasks"]) == 1, out
    arn = str(out["tasks"][0]["taskArn"])
    with ctx.store.transaction() as tx:
        assert apply_reports(tx, [{"taskArn": arn, "lastStatus": "RUNNING"}], instance_arn, 1.0)
    return arn


def _last_status(ctx: ApiContext, task_arn: str) -> str:
    with ctx.store.read() as tx:
        task = tx.get(Kind.TASK, task_arn)
    assert task is not None
    return str(task["lastStatus"])


def test_pass_reads_only_away_instances_and_follows_the_store(tmp_path: Path) -> None:
    """Stale memory entries (connected or deregistered in the store) are dropped; an
    instance the memory does not hold is not read at all (the reseed heals that); an
    instance whose tasks were given up is forgotten (no pass reads it again)."""
    from dockyard.api.ecs.clusters import create_cluster

    now = [1000.0]
    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store, clock=lambda: now[0])
    create_cluster(ctx, {"clusterName": "default"})
    connected, away_arn, unknown = (_register(ctx, f"i-{n}") for n in range(3))
    away_task, unknown_task = _run_one(ctx, away_arn), _run_one(ctx, unknown)
    with store.transaction() as tx:
        for arn, doc_connected in ((connected, True), (away_arn, False), (unknown, False)):
            doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
            assert doc is not None
            doc["agentConnected"] = doc_connected
            doc["disconnectedAt"] = 900.0
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
    away = Away()
    away.seed({connected: 900.0, away_arn: 900.0})
    settings = InstanceSettings(grace_s=60.0)
    assert give_up_lost_hosts(ctx, settings, away) == {away_arn}
    assert _last_status(ctx, away_task) == "STOPPED"
    assert _last_status(ctx, unknown_task) == "RUNNING"  # not in memory: not read
    assert away.since == {}  # connected in the store: forgotten; given up: forgotten
    with store.read() as tx:
        assert disconnected_since(tx) == {away_arn: 900.0, unknown: 900.0}
    store.close()


def test_an_away_instance_without_live_tasks_is_forgotten_without_a_write(
    tmp_path: Path,
) -> None:
    """Nothing to give up: the instance is dropped from memory after one read-only look,
    and no write transaction is opened."""
    from dockyard.api.ecs.clusters import create_cluster

    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store, clock=lambda: 1000.0)
    create_cluster(ctx, {"clusterName": "default"})
    idle = _register(ctx, "i-idle")
    with store.transaction() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, idle)
        assert doc is not None
        doc["agentConnected"] = False
        doc["disconnectedAt"] = 900.0
        tx.update(Kind.CONTAINER_INSTANCE, idle, doc)
    away = Away()
    away.seed({idle: 900.0})
    opened = []
    transaction = store.transaction
    store.transaction = lambda: (opened.append(1), transaction())[1]  # type: ignore[method-assign]
    assert give_up_lost_hosts(ctx, InstanceSettings(grace_s=60.0), away) == set()
    assert away.since == {}
    assert opened == []
    store.close()
