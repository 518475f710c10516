"""`LiveTasks`: each task group's live tasks, held in memory and kept by the writes.

Role: what a service step reads of its tasks (controllers/services/reads.task_rows),
without reading or decoding them. A converging 1,000-task service is stepped every
second or so; reading its 1,000 rows and decoding the changed ones was 10-26 % of the
server at 1,000,000 tasks (bench/README.md, issue 9), and a cache of decoded documents
could not hold them all (~5 KB each).

What is kept: per task, a projection of its document - every top-level field but the
heavy ones a step never reads (`DROPPED`), containers cut to their name, status,
health and network bindings - as a tuple of values beside a shared tuple of keys
(~1 KB per task with their common strings interned: 1,991 bytes before). `read` hands
out fresh dicts of them; nested values are shared with the writer's document: callers
treat them as read-only.

How it stays in step with the store (the pattern of `tasks.memory`):

* a group is loaded from the store on its first read (one indexed query);
* afterwards every write of a task goes through the store's observer (`Tx.observe`):
  a task of a loaded group is re-projected from the document just written, or
  dropped when it is no longer live or is deleted - no writer has to know;
* a rolled-back transaction drops every group it wrote or loaded (they reload);
  another server's write (PostgreSQL, dockyard.ha) drops all of them (`on_stale`);
* only transactions that may share memory use it (write transactions; any
  transaction on SQLite, where all run on the event loop): others read the store.

A reader may keep what it derives from a record (a service step its `TaskView`s) in the
group's `memo`, checked against the record object it came from: a written task's record
is replaced, never changed in place.

Memory is bounded: at most `MAX_TASKS` tasks, the groups read longest ago evicted.
The property test tests/unit/test_cluster_state_property.py checks, after random
operation sequences with rollbacks and restarts, that every loaded group equals the
projection of the store's rows.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from dockyard.lifecycle import LIVE_STATUSES
from dockyard.store import Kind, Tx
from dockyard.store.base import PerStore, shares_memory

# ~1 KB per task (measured with tracemalloc): 1,500,000 tasks ~ 1.5 GB at most
MAX_TASKS = int(os.environ.get("DOCKYARD_LIVE_TASKS_MAX", "1500000"))

# Fields a step never reads: the bulk of a task document.
DROPPED = frozenset({"overrides", "tags", "attributes", "inferenceAccelerators"})
CONTAINER_FIELDS = ("name", "lastStatus", "healthStatus", "networkBindings")

GroupKey = tuple[str, str]  # (cluster ARN, task group)
Record = tuple[tuple[str, ...], tuple[Any, ...]]  # (keys, values)

_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}  # one keys tuple per document shape


def project(doc: Mapping[str, Any]) -> Record:
    keys = tuple(k for k in doc if k not in DROPPED)
    keys = _SHAPES.setdefault(keys, keys)
    values = tuple(_containers(doc[k]) if k == "containers" else _one(doc[k]) for k in keys)
    return keys, values


def _one(value: Any) -> Any:
    """One string object per distinct value: a decoded document has its own copy of its
    cluster, instance, group, definition, deployment and status strings, each shared by
    thousands of tasks (interned, a projection holds about half as much)."""
    return sys.intern(value) if type(value) is str and len(value) < 200 else value


def _containers(containers: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    return tuple(
        tuple((f, _one(c[f])) for f in CONTAINER_FIELDS if f in c) for c in containers or ()
    )


def materialize(record: Record) -> dict[str, Any]:
    keys, values = record
    doc = dict(zip(keys, values, strict=True))
    if "containers" in doc:
        doc["containers"] = [dict(c) for c in doc["containers"]]
    return doc


class LiveTasks:
    """The live tasks of the task groups read so far, by group, in step with one store."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self.max_tasks = max_tasks
        self._groups: OrderedDict[GroupKey, dict[str, Record]] = OrderedDict()
        self._group_of: dict[str, GroupKey] = {}  # task ARN -> its loaded group
        self._memos: dict[GroupKey, dict[str, Any]] = {}  # see `memo`
        self._size = 0
        self.loads = 0  # groups read from the store (the rest came from memory)

    def read(self, tx: Tx, cluster_arn: str, group: str) -> list[dict[str, Any]]:
        """The group's live tasks (lastStatus PROVISIONING..STOPPING), ordered by ARN."""
        held = self.records(tx, cluster_arn, group)
        if held is None:
            return sorted(_query(tx, cluster_arn, group), key=lambda d: d["taskArn"])
        return [materialize(record) for _, record in held]

    def records(self, tx: Tx, cluster_arn: str, group: str) -> list[tuple[str, Record]] | None:
        """The group's live tasks as (ARN, record), ordered by ARN; None when `tx` may
        not share memory (read the store then). A record is replaced, never changed,
        when its task is written: a caller may keep what it derived from one as long as
        the record it gets is the same object (`memo`)."""
        if not shares_memory(tx):
            return None
        key = (cluster_arn, group)
        records = self._groups.get(key)
        if records is None:
            records = self._load(tx, key)
        else:
            self._groups.move_to_end(key)
        return [(arn, records[arn]) for arn in sorted(records)]

    def memo(self, cluster_arn: str, group: str) -> dict[str, Any]:
        """A dict the reader of a held group keeps what it derives per task in (by ARN,
        beside the record it came from), dropped with the group. The reader prunes it."""
        return self._memos.setdefault((cluster_arn, group), {})

    def _load(self, tx: Tx, key: GroupKey) -> dict[str, Record]:
        self.loads += 1
        self._guard(tx, key)  # loaded from this transaction's view: gone if it rolls back
        records = {doc["taskArn"]: project(doc) for doc in _query(tx, *key)}
        self._groups[key] = records
        self._group_of.update(dict.fromkeys(records, key))
        self._size += len(records)
        while self._size > self.max_tasks and len(self._groups) > 1:
            self._drop(next(iter(self._groups)))
        return records

    # -- kept by the writes ----------------------------------------------------------
    def observe_write(self, tx: Tx, arn: str, doc: Any, columns: Mapping[str, Any]) -> None:
        if doc is None:  # deleted
            old = self._group_of.get(arn)
            if old is not None:
                self._guard(tx, old)
                self._discard(old, arn)
            return
        key = (str(doc.get("clusterArn", "")), str(doc.get("group", "")))
        old = self._group_of.get(arn)
        if old is not None and old != key:
            self._guard(tx, old)
            self._discard(old, arn)
        records = self._groups.get(key)
        if records is None:
            return  # not loaded: read from the store when it is (`_load` guards it then)
        self._guard(tx, key)
        if doc.get("lastStatus") in LIVE_STATUSES:
            if arn not in records:
                self._size += 1
                self._group_of[arn] = key
            records[arn] = project(doc)
        else:
            self._discard(key, arn)

    def _discard(self, key: GroupKey, arn: str) -> None:
        records = self._groups.get(key)
        if records is not None and records.pop(arn, None) is not None:
            self._size -= 1
            self._group_of.pop(arn, None)

    def _guard(self, tx: Tx, key: GroupKey) -> None:
        tx.after_rollback(lambda: self._drop(key), key=("live-tasks", id(self), key))

    def _drop(self, key: GroupKey) -> None:
        self._memos.pop(key, None)
        records = self._groups.pop(key, None)
        if records is not None:
            self._size -= len(records)
            for arn in records:
                self._group_of.pop(arn, None)

    def reset(self) -> None:
        self._memos.clear()
        self._groups.clear()
        self._group_of.clear()
        self._size = 0

    def groups(self) -> list[GroupKey]:
        return list(self._groups)

    def __len__(self) -> int:
        return self._size


def _query(tx: Tx, cluster_arn: str, group: str) -> list[dict[str, Any]]:
    where = {"cluster": cluster_arn, "task_group": group, "last_status": list(LIVE_STATUSES)}
    return tx.find(Kind.TASK, where)


_LIVE_TASKS = PerStore(Kind.TASK, LiveTasks)


def live_tasks_of(tx: Tx) -> LiveTasks:
    """The `LiveTasks` of the transaction's store (subscribed to its task writes on
    first use)."""
    return _LIVE_TASKS.of(tx)
