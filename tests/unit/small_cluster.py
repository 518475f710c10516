"""A real SQLite store with a cluster "c" of connected instances and a task definition
"web": what the service-step tests start from."""

from __future__ import annotations

from pathlib import Path

from dockyard.api.ecs.clusters import create_cluster
from dockyard.api.ecs.container_instances import register_container_instance
from dockyard.api.ecs.task_definitions import register_task_definition
from dockyard.context import ApiContext
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url


def small_cluster(
    tmp_path: Path, *, instances: int, cpu: int, memory: int, seed: int
) -> ApiContext:
    """The context (close its store when done); instances' agents marked connected
    (placement needs it); "web" is one busybox container of 64 MiB."""
    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store, seed=seed)
    create_cluster(ctx, {"clusterName": "c"})
    for _ in range(instances):
        out = register_container_instance(
            ctx,
            {
                "cluster": "c",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                ],
            },
        )
        with store.transaction() as tx:
            arn = out["containerInstance"]["containerInstanceArn"]
            doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
            assert doc is not None
            tx.update(Kind.CONTAINER_INSTANCE, arn, {**doc, "agentConnected": True})
    register_task_definition(
        ctx,
        {
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}],
        },
    )
    return ctx
