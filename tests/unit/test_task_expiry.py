"""STOPPED-task expiry on a real SQLite store: indexed, batched, stamps pre-0007 rows."""

from __future__ import annotations

from pathlib import Path

from dockyard.context import ApiContext
from dockyard.controllers.instances import expire_batch
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url

NOW = 10_000.0


def _task(tx: object, n: int, status: str, stopped_at: float | None, stamp: bool) -> None:
    arn = f"arn:aws:ecs:us-east-1:000000000000:task/c/{n:04}"
    doc = {"taskArn": arn, "lastStatus": status}
    if stopped_at is not None:
        doc["stoppedAt"] = stopped_at
    columns = {"stopped_at": stopped_at} if stamp and stopped_at is not None else {}
    tx.insert(  # type: ignore[attr-defined]
        Kind.TASK, arn, doc, cluster="c", instance=None, family="f", task_group="service:s",
        desired_status="STOPPED", last_status=status, reservation={}, **columns,
    )  # fmt: skip
    tx.put_tags(arn, [{"key": "k", "value": "v"}])  # type: ignore[attr-defined]


def test_expiry_deletes_expired_in_batches_and_keeps_the_rest(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    ctx = ApiContext(store=store, clock=lambda: NOW)
    with store.transaction() as tx:
        for n in range(25):  # expired, stamped
            _task(tx, n, "STOPPED", 100.0 + n, stamp=True)
        for n in range(25, 30):  # expired, stopped before 0007 (no stamp)
            _task(tx, n, "STOPPED", 200.0, stamp=False)
        for n in range(30, 35):  # recent, not stamped: stamped, kept
            _task(tx, n, "STOPPED", NOW - 60, stamp=False)
        _task(tx, 35, "RUNNING", None, stamp=False)
    batches = 0
    while expire_batch(ctx, retention_s=3600.0, batch=7):
        batches += 1
        assert batches < 20
    assert batches >= 4  # 35 rows to act on, 7 per transaction
    with store.read() as tx:
        left = sorted(t["taskArn"][-4:] for t in tx.find(Kind.TASK))
        assert left == [f"{n:04}" for n in range(30, 36)]
        assert tx.get_tags("arn:aws:ecs:us-east-1:000000000000:task/c/0000") == []
        stamped = {r["arn"][-4:]: r["stopped_at"] for r in tx.find_rows(Kind.TASK)}
    assert stamped["0030"] == NOW - 60 and stamped["0035"] == 0
    assert not expire_batch(ctx, retention_s=3600.0, batch=7)  # nothing more to read
    store.close()
