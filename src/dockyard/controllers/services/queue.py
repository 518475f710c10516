"""The service controller's work queue and its paced safety pass (pure: the caller gives `now`).

Kubernetes' controllers reconcile a key when something it depends on changed, from a
queue with three properties this module keeps:

    dedup     a key is queued at most once; adding a queued key again is a no-op
    one at a time  a key being processed that is added again is not handed out twice:
              it is marked dirty and queued again when `done` is called, so a change
              that lands during a step is never lost
    backoff   `retry` requeues after base x 2^(failures-1), at most `max_delay_s`;
              `forget` (after a success) resets the count

`add_after` schedules a later add (a service still converging is looked at again);
an immediate `add` supersedes a pending delayed one.

`SafetyPass` is the slow periodic resync: every `period_s` each service is queued
once, released evenly over the period (1,000 services every 30 s = one every 30 ms),
so the pass never arrives as one burst.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Iterable


class WorkQueue:
    """Deduplicating, delay-capable queue of keys (service ARNs)."""

    def __init__(self, *, base_delay_s: float = 0.05, max_delay_s: float = 30.0) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._ready: deque[str] = deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._due: dict[str, float] = {}  # key -> when its delayed add is due
        self._waiting: list[tuple[float, int, str]] = []  # heap; stale entries skipped
        self._seq = itertools.count()
        self._failures: dict[str, int] = {}

    def __len__(self) -> int:
        """Keys ready to be handed out now (delayed ones not counted)."""
        return len(self._ready)

    def __contains__(self, key: object) -> bool:
        return key in self._queued or key in self._dirty

    def add(self, key: str) -> None:
        self._due.pop(key, None)  # an immediate add beats a delayed one
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.append(key)

    def add_all(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def add_after(self, key: str, delay_s: float, now: float) -> None:
        if delay_s <= 0:
            self.add(key)
            return
        if key in self._queued or key in self._dirty:
            return  # it is coming sooner anyway
        due = now + delay_s
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._waiting, (due, next(self._seq), key))

    def promote(self, now: float) -> None:
        """Delayed adds whose time has come become ready."""
        while self._waiting and self._waiting[0][0] <= now:
            due, _, key = heapq.heappop(self._waiting)
            if self._due.get(key) == due:
                del self._due[key]
                self.add(key)

    def pop(self, now: float) -> str | None:
        """The next ready key, now being processed (call `done` after), or None."""
        self.promote(now)
        if not self._ready:
            return None
        key = self._ready.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def next_due(self) -> float | None:
        """When the earliest delayed add is due (None: nothing delayed)."""
        while self._waiting and self._due.get(self._waiting[0][2]) != self._waiting[0][0]:
            heapq.heappop(self._waiting)  # stale: superseded or already added
        return self._waiting[0][0] if self._waiting else None

    def backoff_s(self, key: str) -> float:
        failures = self._failures.get(key, 0)
        if failures <= 0:
            return 0.0
        return float(min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s))

    def retry(self, key: str, now: float) -> float:
        """Requeue after a failure, later each time; returns the delay chosen."""
        self._failures[key] = self._failures.get(key, 0) + 1
        delay = self.backoff_s(key)
        self.add_after(key, delay, now)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)


class SafetyPass:
    """Every key once per pass, released evenly over the pass.

    A pass lasts `period_s`, or `spacing_s` per key when that is longer: the safety
    pass costs at most one step every `spacing_s` however many services there are
    (a step reads its service's live tasks, so a 30 s pass over 1,000 services of
    1,000 tasks would re-read a million tasks every 30 s: work proportional to the
    cluster, not to what changed). What no event announced is healed within one pass.
    """

    def __init__(self, period_s: float, spacing_s: float = 0.0) -> None:
        self.period_s = period_s
        self.spacing_s = spacing_s
        self._keys: list[str] = []
        self._released = 0
        self._started: float | None = None
        self._period = period_s  # this pass's length

    def due(self, now: float) -> bool:
        """A new pass should start (the caller lists the keys and calls `start`)."""
        if self._started is None:
            return True
        return self._released >= len(self._keys) and now >= self._started + self._period

    def start(self, keys: Iterable[str], now: float) -> None:
        self._keys = sorted(set(keys))
        self._released = 0
        self._started = now
        self._period = max(self.period_s, self.spacing_s * len(self._keys))

    def take(self, now: float) -> list[str]:
        """The keys whose turn has come since the last call."""
        if self._started is None or not self._keys:
            return []
        n = len(self._keys)
        elapsed = now - self._started
        share = n if self._period <= 0 else min(n, math.floor(n * elapsed / self._period) + 1)
        out = self._keys[self._released : share]
        self._released = max(self._released, share)
        return out

    def next_release(self) -> float | None:
        """When the next key is released, or when the next pass is due."""
        if self._started is None:
            return None
        n = len(self._keys)
        if self._released >= n:
            return self._started + self._period
        return self._started + self._period * self._released / n
