"""LogStore and stream tokens: paging forward and back, filter pages, shipments, retention."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidParameterException
from dockyard.logs import tokens
from dockyard.logs.store import LogStore, Stream


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_store(now: float = 1_000_000.0) -> tuple[LogStore, Clock]:
    clock = Clock(now)
    return LogStore(None, clock=clock, expire_interval_s=None), clock


def stream_of(store: LogStore, group: str = "g", name: str = "s") -> Stream:
    store.create_group(group, 0)
    found = store.group(group)
    assert found is not None
    store.create_stream(found.id, name, 0)
    stream = store.stream(found.id, name)
    assert stream is not None
    return stream


@given(st.sampled_from("fb"), st.integers(0, 10**15), st.integers(0, 10**15))
def test_tokens_round_trip(direction: str, ts: int, event_id: int) -> None:
    token = tokens.encode(direction, (ts, event_id))
    assert token.startswith(direction + "/")
    assert tokens.decode(token) == (direction, (ts, event_id))


@pytest.mark.parametrize("token", ["", "f/", "x/" + "0" * 40, "f/" + "0" * 39, "f/abc"])
def test_bad_tokens_are_invalid_parameters(token: str) -> None:
    with pytest.raises(InvalidParameterException):
        tokens.decode(token)


def test_filter_token_belongs_to_its_query() -> None:
    token = tokens.encode_filter((5, 6), 42)
    assert tokens.decode_filter(token, 42) == (5, 6)
    with pytest.raises(InvalidParameterException):
        tokens.decode_filter(token, 43)


@given(
    stamps=st.lists(st.integers(0, 20), min_size=0, max_size=40),
    limit=st.integers(1, 7),
)
def test_paging_forward_and_backward_visits_every_event_once(stamps: list[int], limit: int) -> None:
    """Pages read forward from the head, and backward from the tail, each list every event
    exactly once, in (timestamp, arrival) order, whatever order they arrived in."""
    store, _ = make_store()
    stream = stream_of(store)
    for i, ts in enumerate(stamps):
        store.append(stream, [(ts, f"m{i}")], 0)
    expected = [m for _, _, m in sorted((ts, i, f"m{i}") for i, ts in enumerate(stamps))]
    forward, after = [], tokens.START
    for _ in range(len(stamps) + 2):
        page = store.read(stream.id, 0, 100, limit, after=after)
        if not page:
            break
        forward += [e.message for e in page]
        after = page[-1].position
    assert forward == expected
    backward: list[str] = []
    before = None
    for _ in range(len(stamps) + 2):
        page = store.read(stream.id, 0, 100, limit, before=before)
        if not page:
            break
        backward = [e.message for e in page] + backward
        before = page[0].position
    assert backward == expected


def test_scan_interleaves_streams_and_respects_the_window() -> None:
    store, _ = make_store()
    a = stream_of(store, name="a")
    b = stream_of(store, name="b")
    store.append(a, [(1, "a1"), (3, "a3")], 0)
    store.append(b, [(2, "b2"), (4, "b4")], 0)
    assert [e.message for e in store.scan(a.group_id, 0, 10, tokens.START, 10)] == [
        "a1", "b2", "a3", "b4",
    ]  # fmt: skip
    assert [e.message for e in store.scan(a.group_id, 2, 4, tokens.START, 10)] == ["b2", "a3"]
    assert [e.message for e in store.scan(a.group_id, 0, 10, tokens.START, 10, stream_ids=[b.id])] == [
        "b2", "b4",
    ]  # fmt: skip


def test_stream_bookkeeping_and_ship_position() -> None:
    store, _ = make_store()
    stream = stream_of(store)
    store.append(stream, [(5, "hello"), (9, "x")], 77, ship_position=(9_000_000, 0))
    after = store.stream(stream.group_id, "s")
    assert after is not None
    assert (after.first_event, after.last_event, after.last_ingestion) == (5, 9, 77)
    assert after.stored_bytes == 5 + 1 + 2 * 26
    assert after.ship_position == (9_000_000, 0)
    group = store.group("g")
    assert group is not None and group.stored_bytes == after.stored_bytes


def test_retention_deletes_old_events_per_group_and_the_cap_for_others() -> None:
    day_ms = 86400 * 1000
    store, clock = make_store(now=100 * 86400.0)
    kept = stream_of(store, group="week", name="s")
    capped = stream_of(store, group="default", name="s")
    store.set_retention("week", 7)
    now_ms = int(clock.now * 1000)
    store.append(kept, [(now_ms - 8 * day_ms, "old"), (now_ms - day_ms, "new")], now_ms)
    store.append(capped, [(now_ms - 8 * day_ms, "old"), (now_ms - 6 * day_ms, "mid")], now_ms)
    store.cap_s = 5 * 86400.0
    assert store.expire() == 3
    assert [e.message for e in store.read(kept.id, 0, 2**62, 10)] == ["new"]
    assert store.read(capped.id, 0, 2**62, 10) == []
    after = store.stream(kept.group_id, "s")
    assert (
        after is not None and after.stored_bytes == 3 + 26 and after.first_event == now_ms - day_ms
    )


def test_group_listing_pages_by_name_with_prefix_and_pattern() -> None:
    store, _ = make_store()
    for name in ["/ecs/b", "/ecs/a", "/other/A-x", "/ecs/c"]:
        assert store.create_group(name, 0)
    assert not store.create_group("/ecs/a", 0)
    assert [g.name for g in store.groups(prefix="/ecs/", limit=2)] == ["/ecs/a", "/ecs/b"]
    assert [g.name for g in store.groups(prefix="/ecs/", after="/ecs/b")] == ["/ecs/c"]
    assert [g.name for g in store.groups(contains="a-X")] == ["/other/A-x"]
    assert store.delete_group("/ecs/a") and not store.delete_group("/ecs/a")
