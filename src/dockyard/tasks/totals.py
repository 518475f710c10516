"""`ClusterTotals`: a cluster's live tasks by lastStatus, kept in memory per store, so
DescribeClusters' runningTasksCount / pendingTasksCount cost the same at 10 tasks and
at 1,000,000 (issue 9 item 6).

Counting in the store grew with the cluster: `COUNT(*) ... WHERE cluster = ? AND
last_status = 'RUNNING'` walks an index entry (and, on SQLite, a table row) per task:
~1.8 s at 1,000,000 tasks, on the event loop, for every DescribeClusters.

Kept by the one code path every lastStatus move takes (`tasks.reports.count_moved`:
placements' new tasks and `transition`), applied once the transaction commits (a
rolled-back change never counts). A cluster is counted in the store once, on its
first read, and followed from then on. STOPPED tasks are not counted; tasks are only
ever deleted once STOPPED (expiry), so deletes move nothing.

Where the store is shared by several servers (a blocking store: PostgreSQL, dockyard.ha)
the other servers' commits never pass through this process: counts come from the store
there (off the event loop, store/offload.py), as they do inside a write transaction
(its own uncommitted moves are not applied yet). The property test
tests/unit/test_cluster_state_property.py checks totals == the store's counts.
"""

from __future__ import annotations

import threading
import weakref

from dockyard.lifecycle import LIVE_STATUSES
from dockyard.store import Kind, Store, Tx

LIVE = sorted(LIVE_STATUSES)


def count_in_store(tx: Tx, cluster_arn: str) -> dict[str, int]:
    """Live tasks of a cluster by lastStatus, counted by the store (indexed)."""
    counts = {s: tx.count(Kind.TASK, {"cluster": cluster_arn, "last_status": s}) for s in LIVE}
    return {s: n for s, n in counts.items() if n}


class ClusterTotals:
    """Per cluster ARN: lastStatus -> live tasks (only the clusters read so far)."""

    def __init__(self) -> None:
        self._totals: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()  # moves come from the thread that commits

    def counts(self, tx: Tx, cluster_arn: str) -> dict[str, int]:
        """lastStatus -> count of the cluster's live tasks, as `tx` sees them."""
        if tx.writing or tx.store.blocking:
            return count_in_store(tx, cluster_arn)
        with self._lock:
            held = self._totals.get(cluster_arn)
            if held is not None:
                return dict(held)
        counted = count_in_store(tx, cluster_arn)  # once per cluster and process
        with self._lock:
            self._totals.setdefault(cluster_arn, dict(counted))
        return counted

    def moved(self, cluster_arn: str, before: str | None, after: str) -> None:
        """A committed lastStatus move (before None: a new task)."""
        with self._lock:
            counts = self._totals.get(cluster_arn)
            if counts is None or before == after:
                return  # not followed yet: its first read counts it in the store
            if before is not None and before != "STOPPED":
                left = counts.get(before, 0) - 1
                if left > 0:
                    counts[before] = left
                else:
                    counts.pop(before, None)
            if after != "STOPPED":
                counts[after] = counts.get(after, 0) + 1

    def drop(self) -> None:
        """Forget every cluster (counted again in the store on next read)."""
        with self._lock:
            self._totals.clear()


_TOTALS: weakref.WeakKeyDictionary[Store, ClusterTotals] = weakref.WeakKeyDictionary()


def totals_of(store: Store) -> ClusterTotals:
    """The store's `ClusterTotals` (created on first use)."""
    totals = _TOTALS.get(store)
    if totals is None:
        totals = _TOTALS[store] = ClusterTotals()
        store.on_stale(totals.drop)  # another server wrote (dockyard.ha)
    return totals
