"""The server's own Prometheus instruments, and live task counts kept where tasks move.

One registry per process (`REGISTRY`), exposed at GET /metrics by `api/prometheus.py`
with the collectors that read state at scrape time. Instruments here are written by
the code they measure (minimal hooks):

    api/app.Gateway.handle          -> API_REQUESTS, API_SECONDS (per service and action)
    tasks/placement.place_tasks     -> PLACEMENT_SECONDS; TASK_COUNTS (new PROVISIONING)
    tasks/reports.transition        -> TASK_COUNTS (lastStatus moves)
    controllers/services/loop.step  -> RECONCILE_SECONDS

Task counts: a scrape must not scan every task (1,000,000 of them), and no index covers
(cluster, group, lastStatus), so a GROUP BY would read every row. Instead the two code
paths that change a task's lastStatus update an in-memory count, which the server seeds
once at start with one grouped count (`TaskCounts.load`). STOPPED tasks are not counted
(they are expired by a plain delete). Both paths move the count once their transaction
has committed (`tasks.reports.count_moved`: `Tx.after_commit`), so a rolled-back change
never counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
API_REQUESTS = Counter(
    "dockyard_api_requests",
    "API requests by AWS service, action and HTTP status.",
    ["service", "action", "code"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "dockyard_api_request_duration_seconds",
    "API request latency by AWS service and action.",
    ["service", "action"],
    registry=REGISTRY,
)
PLACEMENT_SECONDS = Histogram(
    "dockyard_placement_duration_seconds",
    "Time to place one batch of tasks (scheduler + writes, inside its transaction).",
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "dockyard_service_reconcile_duration_seconds",
    "Time of one service controller step for one service.",
    registry=REGISTRY,
)

GroupKey = tuple[str, str, str]  # cluster ARN, task group ("" for none), lastStatus


class TaskCounts:
    """Live (not STOPPED) tasks by cluster, group and lastStatus."""

    def __init__(self) -> None:
        self._counts: dict[GroupKey, int] = {}
        self._lock = threading.Lock()

    def load(self, rows: Iterable[tuple[str, str | None, str, int]]) -> None:
        """Seed from a grouped count: (cluster, group, lastStatus, count) rows."""
        with self._lock:
            self._counts = {
                (cluster, group or "", status): count
                for cluster, group, status, count in rows
                if status != "STOPPED" and count > 0
            }

    def moved(self, cluster: str, group: str | None, before: str | None, after: str) -> None:
        if before == after:
            return
        with self._lock:
            if before is not None and before != "STOPPED":
                key = (cluster, group or "", before)
                left = self._counts.get(key, 0) - 1
                if left > 0:
                    self._counts[key] = left
                else:
                    self._counts.pop(key, None)
            if after != "STOPPED":
                key = (cluster, group or "", after)
                self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> dict[GroupKey, int]:
        with self._lock:
            return dict(self._counts)


TASK_COUNTS = TaskCounts()
