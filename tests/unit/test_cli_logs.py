"""`dockyard logs tail`: --since parsing, output formats, and the follower's dedup."""

from __future__ import annotations

from typing import Any

import click
import pytest

from dockyard.cli.logs import Follower, format_event, parse_since, tail_events


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800)]
)
def test_parse_since(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "1y", "-1m"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_since(text)


def event(ts: int, event_id: str, message: str = "m") -> dict[str, Any]:
    return {"timestamp": ts, "eventId": event_id, "message": message, "logStreamName": "s"}


def test_format_event() -> None:
    assert format_event(event(0, "1", "hi"), "detailed") == "1970-01-01T00:00:00+00:00 s hi"
    assert format_event(event(1500, "1", "hi"), "short") == "1970-01-01T00:00:01 hi"


def test_follower_skips_what_it_printed_at_the_newest_timestamp() -> None:
    follower = Follower(100)
    assert [e["eventId"] for e in follower.new([event(99, "a"), event(100, "b")])] == ["b"]
    # the next poll starts at 100 again: b is skipped, c (same ms) and d are new
    polled = [event(100, "b"), event(100, "c"), event(101, "d")]
    assert [e["eventId"] for e in follower.new(polled)] == ["c", "d"]
    assert follower.start_ms == 101


class FakeLogs:
    """FilterLogEvents over a list that grows between polls (one page per call)."""

    def __init__(self, batches: list[list[dict[str, Any]]]) -> None:
        self.batches = batches
        self.events: list[dict[str, Any]] = []
        self.starts: list[int] = []

    def get_paginator(self, _name: str) -> Any:
        return self

    def paginate(self, **params: Any) -> list[dict[str, Any]]:
        self.starts.append(params["startTime"])
        if self.batches:
            self.events += self.batches.pop(0)
        return [{"events": [e for e in self.events if e["timestamp"] >= params["startTime"]]}]


def test_tail_follow_prints_each_event_once() -> None:
    api = FakeLogs([[event(10, "a"), event(11, "b")], [], [event(11, "c"), event(12, "d")]])
    printed: list[str] = []
    polls = iter(range(3))

    def sleep(_s: float) -> None:
        if next(polls) == 2:  # three polls, then stop
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tail_events(api, {}, 0, True, lambda e: printed.append(e["eventId"]), sleep)
    assert printed == ["a", "b", "c", "d"]
    assert api.starts == [0, 11, 11]
