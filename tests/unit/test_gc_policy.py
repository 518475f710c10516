"""The server logs full garbage collections long enough to hold its event loop."""

from __future__ import annotations

import logging

import pytest

from dockyard.gc_policy import SlowCollections


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
    assert watch.slow == [2.5]
    assert [r.getMessage() for r in caplog.records] == [
        "a full garbage collection held the server for 2.5 s (7 objects freed)"
    ]


class _Cyclic:
    other: object


def test_frozen_cycles_wait_for_the_thaw_and_are_freed_then() -> None:
    """What `keep_heap_frozen` trades: cyclic garbage among frozen objects is freed by
    the next thaw, not by the next collection."""
    import gc
    import weakref

    from dockyard.gc_policy import collect_and_freeze

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
