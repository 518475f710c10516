"""ListContainerInstances' filter in a transaction that may not share memory (a read
beside writers on PostgreSQL): task-group counts, no longer in the capacity rows, are
counted from the instance's tasks - and only when the expression reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.ecs.clusters import create_cluster
from dockyard.api.ecs.container_instances import register_container_instance
from dockyard.api.ecs.filters import instance_filter
from dockyard.context import ApiContext
from dockyard.store import Kind
from dockyard.store.sql import SqlStore, open_store, sqlite_url


class _Blocking:
    """The store as a PostgreSQL one looks to `shares_memory`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.blocking = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _ReadBeside:
    """A read transaction on a blocking store, counting its GROUP BY queries."""

    writing = False

    def __init__(self, tx: Any, store: SqlStore) -> None:
        self._tx = tx
        self.store = _Blocking(store)
        self.counts = 0

    def count_by(self, *args: Any, **kwargs: Any) -> Any:
        self.counts += 1
        return self._tx.count_by(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(sqlite_url(tmp_path))
    yield s
    s.close()


def test_groups_are_counted_only_for_expressions_that_read_them(store: SqlStore) -> None:
    ctx = ApiContext(store=store, seed=1)
    cluster = create_cluster(ctx, {"clusterName": "c"})["cluster"]["clusterArn"]
    doc = register_container_instance(
        ctx,
        {
            "cluster": "c",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
            ],
            "attributes": [{"name": "stack", "value": "prod"}],
        },
    )["containerInstance"]
    arn = doc["containerInstanceArn"]
    with store.transaction() as tx:
        tx.insert(Kind.TASK, "arn:task/1", {"taskArn": "arn:task/1"}, cluster=cluster,
                  instance=arn, family="web", task_group="service:web",
                  desired_status="RUNNING", last_status="RUNNING", reservation={})  # fmt: skip
    with store.read() as raw:
        tx: Any = _ReadBeside(raw, store)
        stored = raw.get(Kind.CONTAINER_INSTANCE, arn)
        assert instance_filter("task:group == service:web")(tx, stored)
        assert not instance_filter("task:group == service:db")(tx, stored)
        assert tx.counts == 2
        assert instance_filter("attribute:stack == prod")(tx, stored)
        assert tx.counts == 2  # not counted: the expression reads no task group
