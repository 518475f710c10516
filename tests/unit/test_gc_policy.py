"""The server's collector settings (dockyard.gc_policy): applied, and cycles still found."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from dockyard import gc_policy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.mark.usefixtures("restore_gc")
def test_tune_for_server_raises_thresholds_and_keeps_collecting_cycles() -> None:
    gc_policy.tune_for_server()
    assert gc.get_threshold() == gc_policy.THRESHOLDS
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's way
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None
