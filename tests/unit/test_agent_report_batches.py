"""State messages applied in batches by the agent hub (`AgentHub._apply_reports`).

A batch holding a bad message must not cost the good ones, and the live task counts
(`TASK_COUNTS`, the Prometheus gauge) must agree with the store afterwards: a batch
that fails is rolled back and retried message by message, so nothing it did may count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.agent_channel import AgentHub
from dockyard.api.ecs.clusters import create_cluster
from dockyard.api.ecs.container_instances import register_container_instance
from dockyard.api.ecs.task_definitions import register_task_definition
from dockyard.api.ecs.tasks import start_task
from dockyard.context import ApiContext
from dockyard.metrics.instruments import TASK_COUNTS
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApiContext]:
    store = open_store(sqlite_url(tmp_path))
    yield ApiContext(store=store, clock=lambda: 1000.0)
    store.close()


def _world(ctx: ApiContext) -> tuple[str, str, list[str]]:
    """A cluster of its own (TASK_COUNTS is process-wide), one connected instance and
    two PROVISIONING tasks on it: (cluster ARN, instance ARN, task ARNs)."""
    name = f"reports-{uuid.uuid4().hex[:8]}"
    cluster_arn = create_cluster(ctx, {"clusterName": name})["cluster"]["clusterArn"]
    resources = [
        {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
    ]
    out = register_container_instance(
        ctx,
        {
            "cluster": name,
            "instanceIdentityDocument": '{"instanceId": "i-1"}',
            "totalResources": resources,
        },
    )
    instance = str(out["containerInstance"]["containerInstanceArn"])
    with ctx.store.transaction() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, instance)
        assert doc is not None
        doc["agentConnected"] = True
        tx.update(Kind.CONTAINER_INSTANCE, instance, doc)
    register_task_definition(
        ctx,
        {
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 64}],
        },
    )
    tasks = []
    for _ in range(2):
        started = start_task(
            ctx, {"cluster": name, "taskDefinition": "web", "containerInstances": [instance]}
        )
        tasks.append(str(started["tasks"][0]["taskArn"]))
    return cluster_arn, instance, tasks


def _counts(cluster_arn: str) -> dict[tuple[str, str], int]:
    return {
        (group, status): n
        for (cluster, group, status), n in TASK_COUNTS.snapshot().items()
        if cluster == cluster_arn
    }


def _stored_counts(ctx: ApiContext, cluster_arn: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    with ctx.store.read() as tx:
        for task in tx.find(Kind.TASK, {"cluster": cluster_arn}):
            if task["lastStatus"] != "STOPPED":
                key = (task.get("group") or "", task["lastStatus"])
                out[key] = out.get(key, 0) + 1
    return out


def _status(ctx: ApiContext, task_arn: str) -> str:
    with ctx.store.read() as tx:
        task = tx.get(Kind.TASK, task_arn)
    assert task is not None
    return str(task["lastStatus"])


@pytest.mark.parametrize(
    "bad",
    [
        # no status: dropped before the batch is read (it would raise in TaskStatus.parse)
        pytest.param({"lastStatus": "BOGUS"}, id="bogus-task-status"),
        pytest.param(
            {"containers": [{"name": "app", "lastStatus": "BOGUS"}]},
            id="bogus-container-status",
        ),
        # not caught by the filter: fails the batch, which is retried message by message
        pytest.param(
            {"lastStatus": "RUNNING", "containers": [{"name": ["app"]}]},
            id="batch-fails",
        ),
    ],
)
def test_a_bad_message_costs_only_itself_and_counts_agree(
    ctx: ApiContext, bad: dict[str, Any]
) -> None:
    cluster_arn, instance, (good_task, bad_task) = _world(ctx)
    assert (
        _counts(cluster_arn)
        == _stored_counts(ctx, cluster_arn)
        == {("family:web", "PROVISIONING"): 2}
    )
    hub = AgentHub(ctx)
    hub._reports = [
        (instance, [{"taskArn": good_task, "lastStatus": "RUNNING"}]),
        (instance, [{"taskArn": bad_task, **bad}]),
    ]
    hub._apply_reports()
    assert _status(ctx, good_task) == "RUNNING"
    assert _status(ctx, bad_task) == "PROVISIONING"
    assert (
        _counts(cluster_arn)
        == _stored_counts(ctx, cluster_arn)
        == {
            ("family:web", "RUNNING"): 1,
            ("family:web", "PROVISIONING"): 1,
        }
    )


def test_a_rolled_back_placement_does_not_count(ctx: ApiContext) -> None:
    from dockyard.tasks.placement import TaskSpec, place_tasks

    cluster_arn, _instance, _tasks = _world(ctx)
    with ctx.store.read() as tx:
        definition = tx.find(Kind.TASK_DEFINITION, {})[0]
    before = _counts(cluster_arn)
    with pytest.raises(RuntimeError), ctx.store.transaction() as tx:
        cluster = tx.get(Kind.CLUSTER, cluster_arn)
        assert cluster is not None
        placed, _ = place_tasks(ctx, tx, cluster, TaskSpec(definition, count=1))
        assert len(placed) == 1
        raise RuntimeError("roll back")
    assert _counts(cluster_arn) == before == _stored_counts(ctx, cluster_arn)
