"""The server's collector settings (dockyard.gc_policy): applied, cycles still found,
slow collections logged, survivors frozen."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator

import pytest

from dockyard import gc_policy
from dockyard.gc_policy import (
    FREEZE_EVERY_S,
    FREEZE_MIN_S,
    FREEZE_TARGET_S,
    SlowCollections,
    collect_and_freeze,
    next_period,
)


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    callbacks = list(gc.callbacks)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        gc.callbacks[:] = callbacks


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.mark.usefixtures("restore_gc")
def test_tune_for_server_raises_thresholds_and_keeps_collecting_cycles() -> None:
    gc_policy.tune_for_server()
    gc_policy.tune_for_server()  # the slow-collection log is installed once
    assert gc.get_threshold() == gc_policy.THRESHOLDS
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's way
    assert sum(isinstance(c, SlowCollections) for c in gc.callbacks) == 1
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None


def test_a_slow_full_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    watch = SlowCollections(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="dockyard.gc"):
        watch("start", {"generation": 0})
        now[0] += 3.0
        watch("stop", {"generation": 0, "collected": 1})  # young: never logged
        watch("start", {"generation": 2})
        now[0] += 0.2
        watch("stop", {"generation": 2, "collected": 5})  # quick: not logged
        watch("start", {"generation": 2})
        now[0] += 2.5
        watch("stop", {"generation": 2, "collected": 7})
    assert watch.slow == 1
    assert [r.getMessage() for r in caplog.records] == [
        "a full garbage collection held the server for 2.5 s (7 objects freed)"
    ]


class _Cyclic:
    other: object


def test_frozen_cycles_wait_for_the_thaw_and_are_freed_then() -> None:
    """What `keep_heap_frozen` trades: cyclic garbage among frozen objects is freed by
    the next thaw, not by the next collection."""
    try:
        a, b = _Cyclic(), _Cyclic()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        collect_and_freeze()  # alive: frozen
        assert gc.get_freeze_count() > 0
        del a, b  # garbage now, held only by their cycle
        collect_and_freeze()
        assert ref() is not None  # out of the collector's sight
        collect_and_freeze(thaw=True)
        assert ref() is None
    finally:
        gc.unfreeze()


def test_the_freeze_period_shrinks_while_collections_are_slow_and_grows_back() -> None:
    period = FREEZE_EVERY_S
    periods = []
    for took in (1.5, 0.9, 0.5, 0.4, 0.3):  # a fast scale-up: each minute's survivors
        period = next_period(period, took)
        periods.append(period)
    assert periods == [30.0, 15.0, FREEZE_MIN_S, FREEZE_MIN_S, FREEZE_MIN_S]
    assert next_period(period, FREEZE_TARGET_S) == FREEZE_MIN_S  # on target: kept
    for _ in range(5):  # quiet again: short collections
        period = next_period(period, 0.01)
    assert period == FREEZE_EVERY_S
