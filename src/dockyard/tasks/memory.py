"""`ClusterMemory`: the scheduler's `ClusterState` of every cluster, held for the life
of the process and kept in step with the store, so placement never reads the store.

Role: the in-memory cluster state of issue 9. A cluster's state is loaded from the
store on first use (instance documents + `instance_capacity` rows, decoded once, and
each instance's live tasks counted by task group with one GROUP BY on the tasks);
afterwards every change goes through the code path that writes it:

* placements: `tasks.placement` plans on the live state (`place` commits into it)
  and writes the touched instances' capacity rows in the same transaction;
* task state changes (`tasks.reports`): `changing(tx, arn)` hands out the live node
  (indexes maintained), then writes its capacity row when it changed;
* instance documents (register, deregister, drain, attributes, agent connected):
  the store calls `observe_write` on every write of one (an observer), and the
  node is replaced or removed - no writer of instance documents has to know.

Consistency: write transactions run one at a time (the store's write lock), and
only they use the shared state: so between a change and its commit no one else
reads it. The state is therefore the write transaction's own view while it runs; if
the transaction rolls back, every cluster it touched is dropped (`tx.after_rollback`,
run while the write lock is still held) and reloads from the store on next use.
Read transactions: on SQLite everything runs on the event loop (one thread), so they
use the shared state too; on a blocking store (PostgreSQL: handlers run in threads,
store/offload.py) a read may run while a write in another thread is mid-change, so
it never touches the shared state: capacity comes from the instance's capacity row in
its own snapshot (a cluster's state, if asked for, is loaded for that read alone). The property test
tests/unit/test_cluster_state_property.py checks memory == a state rebuilt from
the store after random operation sequences, rollbacks and restarts included.

Neighbours: `scheduler.state.ClusterState` (the structure), `capacity` (the row),
`views` (document + record -> InstanceView), `accounting` (node arithmetic).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dockyard.arns import cluster_name_of
from dockyard.lifecycle import LIVE_STATUSES
from dockyard.scheduler import ClusterState, InstanceView
from dockyard.scheduler.node import Node
from dockyard.store import Kind, Tx
from dockyard.store.base import PerStore, shares_memory
from dockyard.tasks import capacity
from dockyard.tasks.capacity import Capacity, of_node
from dockyard.tasks.views import instance_view

CapacityRow = tuple[str, dict[str, Any], dict[str, Any]]  # (arn, doc, columns) of a row

LIVE = ("ACTIVE", "DRAINING")  # instances the scheduler knows; the others are gone


def cluster_of(instance_arn: str) -> str:
    """The cluster ARN of a container instance ARN (.../container-instance/<cluster>/<id>)."""
    prefix, _, path = instance_arn.partition(":container-instance/")
    return f"{prefix}:cluster/{path.rsplit('/', 1)[0]}"


class ClusterMemory:
    """Per-cluster `ClusterState`s of one store, loaded lazily, updated on every write."""

    def __init__(self) -> None:
        self._states: dict[str, ClusterState] = {}
        self._short: dict[str, str] = {}  # short instance ARN -> cluster ARN (cluster_of)

    # -- reading ---------------------------------------------------------------------
    def state(self, tx: Tx, cluster_arn: str) -> ClusterState:
        """The live state of a cluster (loaded from `tx` on first use)."""
        if not shares_memory(tx):  # a read beside writers in other threads: its own copy
            return load(tx, cluster_arn)
        state = self._states.get(cluster_arn)
        if state is None:
            state = load(tx, cluster_arn)
            self._states[cluster_arn] = state
            self.guard(tx, cluster_arn)  # loaded from this transaction's view
        return state

    def node(self, tx: Tx, instance_arn: str) -> Node | None:
        """The live node of an ACTIVE/DRAINING instance, else None."""
        state = self.state(tx, self.cluster_of(tx, instance_arn))
        return state.node(instance_arn) if instance_arn in state else None

    def cluster_of(self, tx: Tx, instance_arn: str) -> str:
        """The cluster of an instance: named in a long ARN; for the short form
        (containerInstanceLongArnFormat disabled) read from its capacity row once and
        remembered (an instance never changes cluster)."""
        if cluster_name_of(instance_arn) is not None:
            return cluster_of(instance_arn)
        cluster = self._short.get(instance_arn)
        if cluster is None:
            row = tx.get_row(Kind.INSTANCE_CAPACITY, instance_arn)
            if row is None:
                return cluster_of(instance_arn)
            cluster = self._short[instance_arn] = str(row["cluster"])
        return cluster

    def view(self, tx: Tx, doc: Mapping[str, Any], *, groups: bool = True) -> InstanceView:
        """An instance document as the scheduler sees it now (capacity from memory,
        or from its row for instances that are no longer live, or in a transaction
        that may not share memory). Task-group counts are not in the row: without
        memory they cost a query on the instance's tasks, so `groups=False` leaves them
        out when the caller does not read them (a query that is not `dynamic`)."""
        arn = doc["containerInstanceArn"]
        node = self.node(tx, arn) if shares_memory(tx) else None
        if node is not None:
            return node.view()
        counted = instance_groups(tx, arn) if groups else {}
        return instance_view(dict(doc), capacity.read(tx, arn), counted)

    def loaded(self) -> list[str]:
        return list(self._states)

    # -- changing --------------------------------------------------------------------
    def guard(self, tx: Tx, cluster_arn: str) -> None:
        """Drop the cluster's state if `tx` rolls back (it holds this tx's changes)."""
        tx.after_rollback(lambda: self.drop(cluster_arn), key=(id(self), cluster_arn))

    def reset(self) -> None:
        """Another server may have written: every cluster reloads on use."""
        self.drop()

    def drop(self, cluster_arn: str | None = None) -> None:
        """Forget one cluster's state (or all): it reloads from the store when used."""
        if cluster_arn is None:
            self._states.clear()
        else:
            self._states.pop(cluster_arn, None)

    @contextmanager
    def changing(
        self, tx: Tx, instance_arn: str, *, rows: list[CapacityRow] | None = None
    ) -> Iterator[Node]:
        """A node to change in place; its capacity row is written when it changed (or,
        given `rows`, appended there for the caller's one `update_many`).

        Live instances change in the cluster state (indexes kept); an instance that
        is no longer live gets a detached node read from the store.
        """
        cluster_arn = self.cluster_of(tx, instance_arn)
        state = self.state(tx, cluster_arn)
        if instance_arn in state:
            self.guard(tx, cluster_arn)
            with state.changing(instance_arn) as node:  # indexes kept
                before = of_node(node)
                yield node
                after = of_node(node)
        else:
            doc = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
            if doc is None:
                yield Node(-1, _EMPTY)  # unknown instance: changes go nowhere
                return
            before = capacity.read(tx, instance_arn) or capacity.from_document(doc)
            node = Node(-1, instance_view(doc, before, {}))  # not scheduled: no groups
            yield node
            after = of_node(node)
        if after != before:
            if rows is None:
                capacity.write(tx, instance_arn, after)
            else:
                rows.append((instance_arn, *capacity.row_values(after)))

    def write_many(self, tx: Tx, cluster_arn: str, instance_arns: Iterable[str]) -> None:
        """Write live nodes' capacity rows in one statement (after placements committed
        into them: a placement batch's instances)."""
        self.guard(tx, cluster_arn)
        state = self._states[cluster_arn]
        rows = []
        for arn in instance_arns:
            doc, columns = capacity.row_values(of_node(state.node(arn)))
            rows.append((arn, doc, columns))
        tx.update_many(Kind.INSTANCE_CAPACITY, rows)

    def observe_write(
        self, tx: Tx, arn: str, doc: dict[str, Any] | None, columns: Mapping[str, Any]
    ) -> None:
        """Store observer: an instance document was written (or deleted)."""
        cluster_arn = str(columns.get("cluster") or self.cluster_of(tx, arn))
        state = self._states.get(cluster_arn)
        if state is None:
            return  # not loaded: it will load what the store holds
        self.guard(tx, cluster_arn)
        if doc is None or doc["status"] not in LIVE:
            if arn in state:
                state.remove(arn)
            return
        if arn in state:
            node = state.node(arn)
            record: Capacity | None = of_node(node)
            groups: Mapping[str, int] = node.task_groups
        else:
            record = capacity.read(tx, arn)
            groups = instance_groups(tx, arn)
        view = instance_view(doc, record, groups)
        if arn not in state or state.view(arn) != view:
            state.add(view)


_EMPTY = InstanceView(arn="", instance_id="", registered_cpu=0, registered_memory=0,
                      remaining_cpu=0, remaining_memory=0)  # fmt: skip


def load(tx: Tx, cluster_arn: str) -> ClusterState:
    """A cluster's state rebuilt from the store (what a restart sees)."""
    records = {
        row["arn"]: capacity.from_row(row)
        for row in tx.find_rows(Kind.INSTANCE_CAPACITY, {"cluster": cluster_arn})
    }
    docs = tx.find(Kind.CONTAINER_INSTANCE, {"cluster": cluster_arn, "status": list(LIVE)})
    groups: dict[str, dict[str, int]] = {}
    where = {"cluster": cluster_arn, "last_status": list(LIVE_STATUSES)}
    for instance, group, count in tx.count_by(Kind.TASK, ("instance", "task_group"), where):
        if instance and group:
            groups.setdefault(instance, {})[group] = int(count)
    return ClusterState(
        instance_view(
            doc,
            records.get(doc["containerInstanceArn"]),
            groups.get(doc["containerInstanceArn"], {}),
        )
        for doc in docs
    )


def instance_groups(tx: Tx, instance_arn: str) -> dict[str, int]:
    """An instance's live tasks by task group, counted in the store (capacity rows do
    not keep them: `capacity`)."""
    where = {"instance": instance_arn, "last_status": list(LIVE_STATUSES)}
    return {
        group: int(count)
        for group, count in tx.count_by(Kind.TASK, ("task_group",), where)
        if group
    }


_MEMORIES = PerStore(Kind.CONTAINER_INSTANCE, ClusterMemory)


def memory_of(tx: Tx) -> ClusterMemory:
    """The `ClusterMemory` of the transaction's store (created, and subscribed to
    instance-document writes, on first use)."""
    return _MEMORIES.of(tx)
