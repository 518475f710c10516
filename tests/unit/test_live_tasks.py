"""tasks/live.py: a task group's live tasks are read from the store once, then kept by
the writes (no read, no decode per step); rollbacks and evictions drop groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.store import Kind
from dockyard.store.sql import SqlStore, open_store, sqlite_url
from dockyard.tasks.live import LiveTasks, live_tasks_of, project

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
GROUP = "service:web"


def task(i: int, status: str = "PENDING", group: str = GROUP) -> dict[str, Any]:
    return {
        "taskArn": f"{CLUSTER}/t{i}",
        "clusterArn": CLUSTER,
        "group": group,
        "lastStatus": status,
        "n": i,
        "overrides": {"containerOverrides": [{"name": "app", "command": ["x" * 100]}]},
        "containers": [
            {"name": "app", "image": "busybox", "lastStatus": status, "networkBindings": []}
        ],
    }


def write(store: SqlStore, i: int, status: str = "PENDING", group: str = GROUP) -> None:
    doc = task(i, status, group)
    columns = {"desired_status": "RUNNING", "last_status": status}
    with store.transaction() as tx:
        if tx.get(Kind.TASK, doc["taskArn"]) is None:
            tx.insert(
                Kind.TASK, doc["taskArn"], doc, cluster=CLUSTER, family="web",
                task_group=group, reservation={}, **columns,
            )  # fmt: skip
        else:
            tx.update(Kind.TASK, doc["taskArn"], doc, **columns)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(sqlite_url(tmp_path))
    for i in range(5):
        write(s, i)
    yield s
    s.close()


def read(store: SqlStore, group: str = GROUP) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        return live_tasks_of(tx).read(tx, CLUSTER, group)


def live(store: SqlStore) -> LiveTasks:
    with store.read() as tx:
        return live_tasks_of(tx)


def test_loaded_once_then_kept_by_the_writes(store: SqlStore) -> None:
    assert [t["n"] for t in read(store)] == [0, 1, 2, 3, 4]
    write(store, 3, "RUNNING")
    write(store, 7)  # a new task of the group
    write(store, 8, group="service:other")  # another group's: not held
    tasks = read(store)
    assert live(store).loads == 1  # not read from the store again
    assert [(t["n"], t["lastStatus"]) for t in tasks] == [
        (0, "PENDING"), (1, "PENDING"), (2, "PENDING"), (3, "RUNNING"), (4, "PENDING"),
        (7, "PENDING"),
    ]  # fmt: skip
    assert "overrides" not in tasks[0]  # the heavy fields are not held
    assert tasks[3]["containers"] == [
        {"name": "app", "lastStatus": "RUNNING", "networkBindings": []}
    ]
    assert len(live(store)) == 6


def test_stopped_and_deleted_tasks_leave(store: SqlStore) -> None:
    read(store)
    write(store, 1, "STOPPED")
    with store.transaction() as tx:
        tx.delete(Kind.TASK, f"{CLUSTER}/t2")
    assert [t["n"] for t in read(store)] == [0, 3, 4]
    assert len(live(store)) == 3


def test_handed_out_documents_are_fresh(store: SqlStore) -> None:
    first = read(store)
    first[0]["lastStatus"] = "SCRIBBLED"  # a caller's change does not reach memory
    assert read(store)[0]["lastStatus"] == "PENDING"


def test_a_rollback_drops_the_groups_it_wrote(store: SqlStore) -> None:
    read(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        doc = task(0, "RUNNING")
        tx.update(Kind.TASK, doc["taskArn"], doc, last_status="RUNNING")
        assert live_tasks_of(tx).read(tx, CLUSTER, GROUP)[0]["lastStatus"] == "RUNNING"
        raise RuntimeError
    assert read(store)[0]["lastStatus"] == "PENDING"  # reloaded from the store
    assert live(store).loads == 2


def test_memory_is_bounded_by_evicting_the_group_read_longest_ago(store: SqlStore) -> None:
    for i in range(10, 14):
        write(store, i, group="service:other")
    memory = live(store)
    memory.max_tasks = 6
    read(store)
    read(store, "service:other")  # 9 tasks held > 6: the older group goes
    assert memory.groups() == [(CLUSTER, "service:other")]
    assert len(memory) == 4
    assert [t["n"] for t in read(store)] == [0, 1, 2, 3, 4]  # loaded again
    assert memory.loads == 3


def test_projections_share_their_common_strings() -> None:
    """Two documents decoded apart hold their own copies of the group and cluster
    strings; their projections hold one (memory: ~1 KB a task instead of ~2 KB)."""
    a, b = (json.loads(json.dumps(task(i))) for i in (1, 2))
    assert a["group"] is not b["group"]
    (keys, first), (_, second) = project(a), project(b)
    at = keys.index("group")
    assert (
        first[at] is second[at]
        and first[keys.index("clusterArn")] is second[keys.index("clusterArn")]
    )
