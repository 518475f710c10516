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
