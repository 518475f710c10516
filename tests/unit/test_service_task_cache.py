"""controllers/services/task_cache.py: a service's live tasks are decoded once per
version of their JSON text; a changed task is decoded again; a rollback clears it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.controllers.services.task_cache import LiveTaskCache
from dockyard.store import Kind
from dockyard.store.sql import SqlStore, open_store, sqlite_url

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
SERVICE = "arn:aws:ecs:us-east-1:000000000000:service/c/web"
WHERE = {"cluster": CLUSTER, "task_group": "service:web", "last_status": ["PENDING", "RUNNING"]}


def task(i: int, status: str = "PENDING") -> dict[str, object]:
    return {"taskArn": f"{CLUSTER}/t{i}", "lastStatus": status, "n": i}


def insert(store: SqlStore, i: int, status: str = "PENDING") -> None:
    with store.transaction() as tx:
        tx.insert(
            Kind.TASK,
            f"{CLUSTER}/t{i}",
            task(i, status),
            cluster=CLUSTER,
            family="web",
            task_group="service:web",
            desired_status="RUNNING",
            last_status=status,
            reservation={},
        )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(sqlite_url(tmp_path))
    for i in range(5):
        insert(s, i)
    yield s
    s.close()


def test_unchanged_tasks_are_not_decoded_again(store: SqlStore) -> None:
    cache = LiveTaskCache()
    with store.read() as tx:
        first = cache.read(tx, SERVICE, WHERE)
    assert [t["n"] for t in first] == [0, 1, 2, 3, 4]
    assert (cache.decoded, cache.reused) == (5, 0)
    with store.transaction() as tx:
        tx.update(Kind.TASK, f"{CLUSTER}/t3", task(3, "RUNNING"), last_status="RUNNING")
    with store.read() as tx:
        second = cache.read(tx, SERVICE, WHERE)
    assert (cache.decoded, cache.reused) == (6, 4)
    assert second[3]["lastStatus"] == "RUNNING"  # the changed one is read afresh
    assert second[0] is first[0]


def test_a_rollback_clears_the_cache(store: SqlStore) -> None:
    cache = LiveTaskCache()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        docs = cache.read(tx, SERVICE, WHERE)
        docs[0]["lastStatus"] = "SCRIBBLED"  # changed in place by a step that then fails
        raise RuntimeError
    with store.read() as tx:
        again = cache.read(tx, SERVICE, WHERE)
    assert again[0]["lastStatus"] == "PENDING"


def test_memory_is_bounded_by_evicting_the_oldest_service(store: SqlStore) -> None:
    cache = LiveTaskCache(max_docs=6)
    with store.read() as tx:
        cache.read(tx, SERVICE, WHERE)
        cache.read(tx, SERVICE + "-other", WHERE)  # 10 documents held > 6: oldest goes
        cache.read(tx, SERVICE, WHERE)
    assert cache.decoded == 15
