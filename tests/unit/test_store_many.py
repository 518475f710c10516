"""insert_many / update_many: the same rows, columns and observer calls as insert / update
one row at a time (the placement and agent-report hot paths use them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dockyard.store import Kind, Tx
from dockyard.store.sql import open_store, sqlite_url


def _columns(n: int, status: str) -> dict[str, Any]:
    return {
        "cluster": "c", "instance": f"i{n % 2}", "family": "f", "started_by": None,
        "task_group": "service:s", "desired_status": "RUNNING", "last_status": status,
        "reservation": {"cpu": n},
    }  # fmt: skip


def _rows(tx: Tx) -> list[dict[str, Any]]:
    return tx.find_rows(Kind.TASK)


@pytest.mark.parametrize("count", [0, 1, 7])
def test_many_equals_one_by_one(tmp_path: Path, count: int) -> None:
    (tmp_path / "many").mkdir()
    (tmp_path / "one").mkdir()
    many = open_store(sqlite_url(tmp_path / "many"))
    one = open_store(sqlite_url(tmp_path / "one"))
    seen: dict[str, list[tuple[str, Any]]] = {"many": [], "one": []}
    for name, store in (("many", many), ("one", one)):

        def observer(
            _tx: Tx, key: str, doc: Any, _cols: Mapping[str, Any], name: str = name
        ) -> None:
            seen[name].append((key, doc))

        store.observe(Kind.TASK, observer)
    rows = [(f"t{n}", {"taskArn": f"t{n}", "n": n}, _columns(n, "PENDING")) for n in range(count)]
    updates = [(k, {**d, "v": 2}, {"last_status": "RUNNING"}) for k, d, _ in rows]
    with many.transaction() as tx:
        tx.insert_many(Kind.TASK, rows)
        tx.update_many(Kind.TASK, updates)
    with one.transaction() as tx:
        for key, doc, columns in rows:
            tx.insert(Kind.TASK, key, doc, **columns)
        for key, doc, columns in updates:
            tx.update(Kind.TASK, key, doc, **columns)
    with many.read() as a, one.read() as b:
        assert _rows(a) == _rows(b)
        assert len(_rows(a)) == count
        assert all(r["last_status"] == "RUNNING" and r["doc"]["v"] == 2 for r in _rows(a))
    assert seen["many"] == seen["one"]
    many.close()
    one.close()
