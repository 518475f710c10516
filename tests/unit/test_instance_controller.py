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


def test_pass_reads_only_away_instances_and_follows_the_store(tmp_path: Path) -> None:
    """Stale memory entries (connected or deregistered in the store) are dropped; an
    instance the memory does not hold is not read at all (the reseed heals that)."""
    from dockyard.api.ecs.clusters import create_cluster

    now = [1000.0]
    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store, clock=lambda: now[0])
    create_cluster(ctx, {"clusterName": "default"})
    connected, away_arn, unknown = (_register(ctx, f"i-{n}") for n in range(3))
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
    assert give_up_lost_hosts(ctx, settings, away) == set()  # no live tasks to give up
    assert away.since == {away_arn: 900.0}  # connected in the store: forgotten
    with store.read() as tx:
        assert disconnected_since(tx) == {away_arn: 900.0, unknown: 900.0}
    store.close()
