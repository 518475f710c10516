"""The server process's cyclic garbage collector settings.

Why: the control plane allocates container objects at a high rate (every task document
decoded or built: dozens of dicts and lists) and keeps a large heap alive (cluster
state, decoded live tasks, botocore's models). With CPython's default thresholds
(700, 10, 10) the collector ran ~3,500 young and 26 full collections during a
30,000-task scale-up (`bench/scale.py --sizes 300x30000`), 18 s in collections
(wall clock, from `gc.callbacks`) against 44 s of server CPU, full collections
~0.5 s each, holding the event loop (bench/README.md, issue 9). py-spy does not show
it as such: it charges the time to whatever frame allocated (e.g. `count_moved`'s lambda).

What: `gc.freeze()` moves everything alive after start-up (modules, botocore models,
the app) out of the collector's sight, and a young-generation threshold of 50,000
with rarer older collections: ~1 s in collections in the same run, and the server's
CPU for the same work down by about a quarter (server RSS unchanged, ~356 MB). The
collector stays on: reference cycles are still found, only less often (garbage in
cycles lives longer; reference counting frees everything else at once).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

THRESHOLDS = (50_000, 20, 100)  # CPython's default: (700, 10, 10)
SLOW_COLLECTION_S = 0.5  # a full collection this long is logged (it held the event loop)
FREEZE_EVERY_S = 60.0  # survivors of a full collection leave the collector's sight this often
FREEZE_MIN_S = 10.0  # ... or down to this often while each such collection is slow
FREEZE_TARGET_S = 0.2  # a freeze collection longer than this halves the period
THAW_EVERY_S = 6 * 3600.0  # and once in this long everything is looked at again
log = logging.getLogger("dockyard.gc")


class SlowCollections:
    """A `gc.callbacks` entry that logs full collections that held the process for
    SLOW_COLLECTION_S or more: on a large heap (a million tasks) they can outlast an
    agent's websocket heartbeat, and nothing else would show them (py-spy charges them
    to whatever frame allocated)."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self.clock = clock
        self.started: float | None = None
        self.slow = 0  # collections logged

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self.started = self.clock()
            return
        if self.started is None:
            return
        took, self.started = self.clock() - self.started, None
        if took >= SLOW_COLLECTION_S:
            self.slow += 1
            log.warning(
                "a full garbage collection held the server for %.1f s (%s objects freed)",
                took,
                info.get("collected", "?"),
            )


def tune_for_server() -> None:
    """Apply the server's settings; call once, when start-up has built the app."""
    gc.collect()  # what start-up left behind is not frozen forever
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    if not any(isinstance(c, SlowCollections) for c in gc.callbacks):
        gc.callbacks.append(SlowCollections())


def collect_and_freeze(*, thaw: bool = False) -> float:
    """A full collection of what the last freeze left in sight, then the survivors out
    of sight (`gc.freeze`: O(1)); `thaw` first brings every frozen object back. Seconds
    it took."""
    started = time.perf_counter()
    if thaw:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


def next_period(period_s: float, took_s: float, *, longest_s: float = FREEZE_EVERY_S) -> float:
    """The next freeze period: halved (down to FREEZE_MIN_S) after a collection slower
    than FREEZE_TARGET_S, doubled (up to `longest_s`) after one under a quarter of it.
    The work is the same (what survived since the last freeze is walked once), in
    shorter pauses while the heap grows fast."""
    if took_s > FREEZE_TARGET_S:
        return max(FREEZE_MIN_S, period_s / 2)
    if took_s < FREEZE_TARGET_S / 4:
        return min(longest_s, period_s * 2)
    return period_s


async def keep_heap_frozen(
    every_s: float = FREEZE_EVERY_S, thaw_every_s: float = THAW_EVERY_S
) -> None:
    """Keep full collections short however large the heap grows.

    A full collection walks every tracked object: over 1,000,000 decoded task documents
    it took 3.8 s (68 ms once they were frozen; bench/README.md, 2026-12-03), holding the
    event loop; the benchmark's simulated agents stalled up to 6.2 s this way and missed
    their websocket heartbeats. Every `every_s` the objects that survived a full
    collection are frozen, so later collections only walk what was allocated since (during
    a fast scale-up that was still 0.6-1.7 s a minute: run L, so the period shrinks to
    FREEZE_MIN_S while these collections are slow, `next_period`). The cost: a frozen object
    that later becomes garbage held only by a reference cycle waits for the next thaw
    (every `thaw_every_s`, one long collection) instead of the next full collection;
    objects without cycles are freed by reference counting as always. Slow collections
    are logged by `SlowCollections`; a thaw is logged here.
    """
    last_thaw = time.monotonic()
    period = every_s
    while True:
        await asyncio.sleep(period)
        thaw = time.monotonic() - last_thaw >= thaw_every_s
        if thaw:
            last_thaw = time.monotonic()
        took = collect_and_freeze(thaw=thaw)
        if thaw:
            log.info("garbage collection (thawed) took %.2f s", took)
        else:  # during a fast scale-up a minute's survivors took 0.6-1.7 s (run L)
            period = next_period(period, took, longest_s=every_s)
