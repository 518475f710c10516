"""The store contract: every Store/Tx method behaves the same on SQLite and PostgreSQL.

Each test runs on both backends (the `store` fixture in conftest.py). What is checked is
what callers rely on: documents round-trip, `where` (equality, lists as IN, prefixes with
LIKE's special characters), ordering and keyset paging, limits, aggregates, tags,
insert_many/update_many equal to one-by-one writes, rollback writes nothing, callbacks
and observers, read snapshots, and writers that never lose an update.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from dockyard.controllers.instances import CONNECTED
from dockyard.store import Kind, Tx
from dockyard.store.sql import SqlStore

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/"


def _task_columns(n: int, status: str = "PENDING", **extra: Any) -> dict[str, Any]:
    return {
        "cluster": "c", "instance": f"i{n % 2}", "family": "f", "started_by": None,
        "task_group": "service:s", "desired_status": "RUNNING", "last_status": status,
        "reservation": {"cpu": n, "ports": [80 + n]}, **extra,
    }  # fmt: skip


def _add_cluster(tx: Tx, name: str, status: str = "ACTIVE", **doc: Any) -> str:
    arn = CLUSTER + name
    tx.insert(Kind.CLUSTER, arn, {"clusterArn": arn, "clusterName": name, **doc},
              name=name, status=status)  # fmt: skip
    return arn


def test_documents_round_trip(store: SqlStore) -> None:
    doc = {
        "clusterName": "ünïcode-✓", "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
        "big": 2**53, "float": 1733150000.123456, "negative": -0.5, "quote": 'a"b\\c',
    }  # fmt: skip
    with store.transaction() as tx:
        arn = _add_cluster(tx, "a", **doc)
    with store.read() as tx:
        assert tx.get(Kind.CLUSTER, arn) == {"clusterArn": arn, **doc}
        assert tx.get(Kind.CLUSTER, CLUSTER + "missing") is None
        row = tx.get_row(Kind.CLUSTER, arn)
        assert row is not None and row["name"] == "a" and row["status"] == "ACTIVE"
        assert row["doc"]["nested"] == doc["nested"]
        assert tx.get_row(Kind.CLUSTER, CLUSTER + "missing") is None


def test_update_and_delete(store: SqlStore) -> None:
    with store.transaction() as tx:
        arn = _add_cluster(tx, "a")
        _add_cluster(tx, "b")
    with store.transaction() as tx:
        tx.update(Kind.CLUSTER, arn, {"clusterArn": arn, "v": 2}, status="INACTIVE")
        tx.delete(Kind.CLUSTER, CLUSTER + "b")
        tx.delete(Kind.CLUSTER, CLUSTER + "never")  # deleting nothing is not an error
    with store.read() as tx:
        assert tx.get(Kind.CLUSTER, arn) == {"clusterArn": arn, "v": 2}
        assert [r["status"] for r in tx.find_rows(Kind.CLUSTER)] == ["INACTIVE"]
        assert tx.get(Kind.CLUSTER, CLUSTER + "b") is None


def test_duplicate_keys_and_unique_columns_are_refused(store: SqlStore) -> None:
    with store.transaction() as tx:
        _add_cluster(tx, "a")
    for attempt in ({"arn": CLUSTER + "a", "name": "other"}, {"arn": CLUSTER + "x", "name": "a"}):
        with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
            tx.insert(Kind.CLUSTER, attempt["arn"], {}, name=attempt["name"], status="ACTIVE")
    with store.read() as tx:
        assert tx.count(Kind.CLUSTER) == 1


def test_find_where_lists_order_and_limit(store: SqlStore) -> None:
    with store.transaction() as tx:
        for n in range(6):
            tx.insert(Kind.TASK, f"t{n}", {"n": n}, **_task_columns(n, ["PENDING", "RUNNING"][n % 2],
                                                                  stopped_at=float(10 - n)))  # fmt: skip
    with store.read() as tx:
        assert [d["n"] for d in tx.find(Kind.TASK)] == [0, 1, 2, 3, 4, 5]
        assert [d["n"] for d in tx.find(Kind.TASK, {"last_status": "RUNNING"})] == [1, 3, 5]
        assert [
            d["n"] for d in tx.find(Kind.TASK, {"instance": ["i0"], "last_status": ("PENDING",)})
        ] == [0, 2, 4]
        assert tx.find(Kind.TASK, {"instance": []}) == []
        assert [d["n"] for d in tx.find(Kind.TASK, order_by=["stopped_at"])] == [5, 4, 3, 2, 1, 0]
        assert [d["n"] for d in tx.find(Kind.TASK, descending=True, limit=2)] == [5, 4]
        assert [
            d["n"] for d in tx.find(Kind.TASK, {"started_by": None})
        ] == []  # NULL = NULL is false
        assert tx.find(Kind.TASK, limit=0) == []


def test_keyset_paging_over_several_columns(store: SqlStore) -> None:
    with store.transaction() as tx:
        for n in range(7):
            tx.insert(Kind.TASK, f"t{n}", {"n": n}, **_task_columns(n, stopped_at=float(n % 3)))
    order = ["stopped_at", "arn"]
    with store.read() as tx:
        everything = [(d["n"] % 3, f"t{d['n']}") for d in tx.find(Kind.TASK, order_by=order)]
        assert everything == sorted(everything)
        for descending in (False, True):
            pages: list[tuple[float, str]] = []
            after: list[Any] | None = None
            while True:
                page = tx.find(
                    Kind.TASK, order_by=order, descending=descending, after=after, limit=3
                )
                if not page:
                    break
                pages += [(float(d["n"] % 3), f"t{d['n']}") for d in page]
                after = list(pages[-1])
            assert pages == sorted(pages, reverse=descending) and len(pages) == 7


def test_prefix_escapes_like_wildcards(store: SqlStore) -> None:
    names = ["a_b", "axb", "a%b", "a%%", "a\\b", "ab", "A_b"]
    with store.transaction() as tx:
        for name in names:
            _add_cluster(tx, name)
    with store.read() as tx:

        def found(prefix: str) -> list[str]:
            return sorted(d["clusterName"] for d in tx.find(Kind.CLUSTER, prefix=("name", prefix)))

        assert found("a_") == ["a_b"]
        assert found("a%") == ["a%%", "a%b"]
        assert found("a\\") == ["a\\b"]
        assert found("a") == sorted(n for n in names if n.startswith("a"))
        assert tx.distinct(Kind.CLUSTER, "name", prefix=("name", "a%")) == ["a%%", "a%b"]


def test_keys_are_ordered_by_bytes(store: SqlStore) -> None:
    """ARN order is byte order on both backends (PostgreSQL created with C collation)."""
    keys = ["b", "B", "a-1", "a_1", "a1", "Z", "é"]
    with store.transaction() as tx:
        for key in keys:
            tx.insert(Kind.CLUSTER, key, {"k": key}, name=key, status="ACTIVE")
    expected = sorted(keys, key=lambda k: k.encode())
    with store.read() as tx:
        assert tx.find_keys(Kind.CLUSTER) == expected
        assert [d["k"] for d in tx.find(Kind.CLUSTER)] == expected
        assert tx.find_keys(Kind.CLUSTER, after=[expected[2]], limit=2) == expected[3:5]
        assert tx.find_keys(Kind.CLUSTER, {"status": "INACTIVE"}) == []
        assert [r["arn"] for r in tx.find_rows(Kind.CLUSTER)] == expected


def test_aggregates(store: SqlStore) -> None:
    with store.read() as tx:
        assert tx.count(Kind.TASK) == 0
        assert tx.sum(Kind.INSTANCE_CAPACITY, "remaining_cpu") == 0
        assert tx.max(Kind.TASK, "stopped_at") is None
        assert tx.distinct(Kind.TASK, "instance") == []
    with store.transaction() as tx:
        for n in range(5):
            tx.insert(Kind.TASK, f"t{n}", {"n": n}, **_task_columns(n, stopped_at=float(n)))
            tx.insert(Kind.INSTANCE_CAPACITY, f"i{n}", {}, cluster="c" if n < 3 else "d",
                      remaining_cpu=100 * n, remaining_memory=1, running_count=0,
                      pending_count=0)  # fmt: skip
    with store.read() as tx:
        assert tx.count(Kind.TASK) == 5
        assert tx.count(Kind.TASK, {"instance": "i1"}) == 2
        assert tx.count(Kind.TASK, {"instance": ["i0", "i1"], "cluster": "c"}) == 5
        assert tx.sum(Kind.INSTANCE_CAPACITY, "remaining_cpu", {"cluster": "c"}) == 300
        assert tx.max(Kind.TASK, "stopped_at", {"instance": "i0"}) == 4.0
        assert tx.distinct(Kind.TASK, "instance") == ["i0", "i1"]
        assert tx.distinct(Kind.INSTANCE_CAPACITY, "cluster", {"remaining_cpu": [0, 400]}) == [
            "c",
            "d",
        ]
        # GROUP BY, ordered by the grouped columns (tasks.memory counts task groups so)
        assert tx.count_by(Kind.TASK, ("instance", "task_group")) == [
            ("i0", "service:s", 3),
            ("i1", "service:s", 2),
        ]
        assert tx.count_by(Kind.TASK, ("instance",), {"instance": "i1"}) == [("i1", 2)]
        assert tx.count_by(Kind.TASK, ("instance",), {"instance": "none"}) == []


def test_find_raw_is_json_text(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.insert(Kind.CONTAINER_INSTANCE, "i1", {"agentConnected": True, "n": [1, {"a": None}]},
                  cluster="c", instance_id="i-1", status="ACTIVE")  # fmt: skip
    with store.read() as tx:
        [(key, raw)] = tx.find_raw(Kind.CONTAINER_INSTANCE, {"status": ["ACTIVE", "DRAINING"]})
        assert tx.find_raw(Kind.CONTAINER_INSTANCE, {"status": "DRAINING"}) == []
    assert key == "i1" and isinstance(raw, str)
    assert json.loads(raw) == {"agentConnected": True, "n": [1, {"a": None}]}
    # the hint controllers/instances.py relies on (the codec's or PostgreSQL's spelling)
    assert any(hint in raw for hint in CONNECTED)


def test_tags(store: SqlStore) -> None:
    arn = CLUSTER + "a"
    with store.transaction() as tx:
        tx.put_tags(arn, [{"key": "b", "value": "1"}, {"key": "a", "value": ""}])
        tx.put_tags(arn, [{"key": "b", "value": "2"}])  # replaces the value
        tx.put_tags(arn, [])
        tx.put_tags(CLUSTER + "other", [{"key": "a", "value": "x"}])
    with store.transaction() as tx:
        assert tx.get_tags(arn) == [{"key": "a", "value": ""}, {"key": "b", "value": "2"}]
        tx.remove_tags(arn, ["a", "missing"])
        assert tx.get_tags(arn) == [{"key": "b", "value": "2"}]
        tx.delete_all_tags(arn)
    with store.read() as tx:
        assert tx.get_tags(arn) == []
        assert tx.get_tags(CLUSTER + "other") == [{"key": "a", "value": "x"}]


@pytest.mark.parametrize("count", [0, 1, 7])
def test_many_equals_one_by_one(store: SqlStore, count: int) -> None:
    """insert_many / update_many: the same rows, columns and observer calls as insert /
    update one row at a time (the placement and agent-report hot paths use them)."""
    seen: dict[str, list[tuple[str, Any]]] = {"many": [], "one": []}
    current = ["many"]

    def observer(_tx: Tx, key: str, doc: Any, _cols: Mapping[str, Any]) -> None:
        seen[current[0]].append((key, doc))

    store.observe(Kind.TASK, observer)
    rows = [(f"m{n}", {"taskArn": f"t{n}", "n": n}, _task_columns(n)) for n in range(count)]
    updates = [(k, {**d, "v": 2}, {"last_status": "RUNNING"}) for k, d, _ in rows]
    with store.transaction() as tx:
        tx.insert_many(Kind.TASK, rows)
        tx.update_many(Kind.TASK, updates)
    current[0] = "one"
    with store.transaction() as tx:
        for key, doc, columns in rows:
            tx.insert(Kind.TASK, "o" + key[1:], doc, **columns)
        for key, doc, columns in updates:
            tx.update(Kind.TASK, "o" + key[1:], doc, **columns)
    with store.read() as tx:
        many = [{**r, "arn": r["arn"][1:]} for r in tx.find_rows(Kind.TASK) if r["arn"][0] == "m"]
        one = [{**r, "arn": r["arn"][1:]} for r in tx.find_rows(Kind.TASK) if r["arn"][0] == "o"]
    assert many == one and len(many) == count
    assert all(r["last_status"] == "RUNNING" and r["doc"]["v"] == 2 for r in many)
    assert [(k[1:], d) for k, d in seen["many"]] == [(k[1:], d) for k, d in seen["one"]]


def test_many_stores_the_same_text_in_order(store: SqlStore) -> None:
    """The bulk path (store/bulk.py, the DBAPI's executemany) stores the JSON text a single
    insert stores (reads._INSTANCES compares it; find_raw hints match it), converts columns as
    their types do (an int into a Float column), and applies rows in order when their
    column sets differ (the later write of a key wins)."""
    doc = {"s": 'ünï "q" ✓', "f": 1733150000.123456, "none": None, "l": [1, {"a": True}]}
    with store.transaction() as tx:
        tx.insert(Kind.TASK, "one", doc, **_task_columns(1, stopped_at=5))
        tx.insert_many(Kind.TASK, [("many", doc, _task_columns(1, stopped_at=5))])
        tx.update_many(Kind.TASK, [
            ("many", {**doc, "v": 1}, {"last_status": "RUNNING"}),
            ("many", {**doc, "v": 2}, {"last_status": "STOPPED", "stopped_at": 7}),
            ("many", {**doc, "v": 3}, {"last_status": "DEPROVISIONING"}),
        ])  # fmt: skip
    with store.read() as tx:
        raw = dict(tx.find_raw(Kind.TASK, {"arn": ["one", "many"]}))
        row = tx.get_row(Kind.TASK, "many")
    assert raw["one"] != raw["many"]
    assert json.loads(raw["many"]) == {**doc, "v": 3}
    with store.transaction() as tx:
        tx.update_many(Kind.TASK, [("many", doc, {})])
    with store.read() as tx:
        assert dict(tx.find_raw(Kind.TASK, {"arn": ["one", "many"]}))["many"] == raw["one"]
    assert row is not None and row["doc"]["v"] == 3 and row["last_status"] == "DEPROVISIONING"
    assert row["stopped_at"] == 7.0 and isinstance(row["stopped_at"], float)
    assert row["reservation"] == {"cpu": 1, "ports": [81]}


def test_rollback_writes_nothing_and_runs_rollback_callbacks(store: SqlStore) -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError), store.transaction() as tx:
        _add_cluster(tx, "a")
        tx.put_tags(CLUSTER + "a", [{"key": "k", "value": "v"}])
        tx.after_commit(lambda: events.append("commit"))
        tx.after_rollback(lambda: events.append("rollback"))
        tx.after_rollback(lambda: events.append("rollback-again"), key="once")
        tx.after_rollback(lambda: events.append("never"), key="once")
        raise RuntimeError("half-way")
    assert events == ["rollback", "rollback-again"]
    with store.read() as tx:
        assert tx.count(Kind.CLUSTER) == 0 and tx.get_tags(CLUSTER + "a") == []


def test_a_failed_statement_rolls_back_the_whole_transaction(store: SqlStore) -> None:
    with store.transaction() as tx:
        _add_cluster(tx, "a")
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        _add_cluster(tx, "b")
        _add_cluster(tx, "a")
    with store.read() as tx:
        assert tx.find_keys(Kind.CLUSTER) == [CLUSTER + "a"]
    with store.transaction() as tx:  # the store is usable after the failure
        _add_cluster(tx, "b")


def test_commit_callbacks_run_after_commit_once_per_key(store: SqlStore) -> None:
    events: list[str] = []
    with store.transaction() as tx:
        _add_cluster(tx, "a")
        tx.after_commit(lambda: events.append("first"), key="k")
        tx.after_commit(lambda: events.append("second"), key="k")
        tx.after_commit(lambda: events.append("unkeyed"))
        tx.after_rollback(lambda: events.append("rollback"))
        assert events == []
    assert events == ["first", "unkeyed"]
    assert tx.store is store


def test_observers_see_every_write_inside_the_transaction(store: SqlStore) -> None:
    seen: list[tuple[str, Any, dict[str, Any]]] = []

    def observer(tx: Tx, key: str, doc: Any, columns: Mapping[str, Any]) -> None:
        seen.append((key, doc, dict(columns)))
        assert tx.get(Kind.CLUSTER, key) == doc  # the write is visible to its transaction

    store.observe(Kind.CLUSTER, observer)
    with store.transaction() as tx:
        arn = _add_cluster(tx, "a")
        tx.update(Kind.CLUSTER, arn, {"v": 2}, status="INACTIVE")
        tx.delete(Kind.CLUSTER, arn)
        tx.insert(Kind.SERVICE, "s", {}, cluster="c", name="s", status="ACTIVE")  # not observed
    assert seen == [
        (arn, {"clusterArn": arn, "clusterName": "a"}, {"name": "a", "status": "ACTIVE"}),
        (arn, {"v": 2}, {"status": "INACTIVE"}),
        (arn, None, {}),
    ]


def test_reads_see_a_snapshot(store: SqlStore) -> None:
    """A read transaction keeps seeing what it saw first, whatever commits meanwhile."""
    with store.transaction() as tx:
        _add_cluster(tx, "a")

    def write() -> None:
        with store.transaction() as tx:
            _add_cluster(tx, "b")

    with store.read() as tx:
        assert tx.count(Kind.CLUSTER) == 1
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=60)
        assert not writer.is_alive()
        assert tx.count(Kind.CLUSTER) == 1
    with store.read() as tx:
        assert tx.count(Kind.CLUSTER) == 2


def test_reads_are_read_only_and_leave_the_connection_writable(store: SqlStore) -> None:
    """PostgreSQL refuses a write in a read transaction (READ ONLY); the pooled connection
    it used writes again in the next write transaction (SQLite: reads roll back)."""
    for attempt in range(3):  # a small pool: the connections that read write again
        if not store.sqlite:
            refused = pytest.raises(sa.exc.DBAPIError, match="read-only transaction")
            with refused, store.read() as tx:
                _add_cluster(tx, f"refused{attempt}")
        with store.read() as tx:
            assert tx.count(Kind.CLUSTER) == attempt
        with store.transaction() as tx:
            _add_cluster(tx, f"written{attempt}")
    with store.read() as tx:
        assert tx.count(Kind.CLUSTER) == 3


def test_concurrent_writers_lose_no_update(store: SqlStore) -> None:
    """Read-modify-write transactions from two threads: writers run one at a time, so
    every increment lands (a backend without a write lock would lose some)."""
    with store.transaction() as tx:
        arn = _add_cluster(tx, "counter", n=0)
    errors: list[BaseException] = []
    rounds = 15

    def bump() -> None:
        try:
            for _ in range(rounds):
                with store.transaction() as tx:
                    doc = tx.get(Kind.CLUSTER, arn)
                    assert doc is not None
                    threading.Event().wait(0.002)  # widen the race window
                    tx.update(Kind.CLUSTER, arn, {**doc, "n": doc["n"] + 1})
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    with store.read() as tx:
        doc = tx.get(Kind.CLUSTER, arn)
    assert doc is not None and doc["n"] == 2 * rounds


def test_a_service_group_of_the_longest_service_name_fits(store: SqlStore) -> None:
    group = "service:" + "s" * 255  # ECS service names reach 255 characters
    with store.transaction() as tx:
        tx.insert(Kind.TASK, "t", {}, **{**_task_columns(0), "task_group": group})
    with store.read() as tx:
        assert tx.count(Kind.TASK, {"task_group": group}) == 1
