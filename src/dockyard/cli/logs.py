"""`dockyard logs tail GROUP [--follow]`: what `aws logs tail` does in the aws CLI v2.

The aws CLI v1 (the one pip installs, and this venv's) has no `logs tail`; its
`aws logs get-log-events` and `aws logs filter-log-events` work against Dockyard as
they are. This command does what v2's tail does, over the same API:

    dockyard logs tail GROUP [--since 10m] [--follow] [--filter-pattern P]
                             [--log-stream-name-prefix P] [--format detailed|short]

It reads FilterLogEvents from `--since` ago; with --follow it polls every second
from the newest timestamp printed, skipping event ids it already printed at that
timestamp (as v2 does), until interrupted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click

from dockyard.cli.client import ApiGroup, client

POLL_S = 1.0
_SINCE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> float:
    """ "10m", "1h", "30s", "2d", "1w" -> seconds (as aws logs tail reads --since)."""
    match = _SINCE.fullmatch(text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r}: use a number and s, m, h, d or w (e.g. 10m).")
    return int(match[1]) * _UNITS[match[2]]


def format_event(event: dict[str, Any], style: str) -> str:
    """`detailed`: ISO time, stream, message (v2's default); `short`: time and message."""
    stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    if style == "short":
        return f"{stamp.strftime('%Y-%m-%dT%H:%M:%S')} {event['message']}"
    return f"{stamp.isoformat()} {event['logStreamName']} {event['message']}"


@dataclass
class Follower:
    """Which events are new: after the newest timestamp printed, or at it but unseen."""

    start_ms: int
    seen_at_start: set[str] = field(default_factory=set)

    def new(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for event in events:
            ts, event_id = int(event["timestamp"]), str(event["eventId"])
            if ts < self.start_ms or (ts == self.start_ms and event_id in self.seen_at_start):
                continue
            if ts > self.start_ms:
                self.start_ms, self.seen_at_start = ts, set()
            self.seen_at_start.add(event_id)
            out.append(event)
        return out


def _pages(api: Any, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for page in api.get_paginator("filter_log_events").paginate(**params):
        yield from page.get("events", [])


def tail_events(
    api: Any,
    params: dict[str, Any],
    since_ms: int,
    follow: bool,
    echo: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print the events from `since_ms`; with `follow`, keep polling for new ones."""
    follower = Follower(since_ms)
    while True:
        for event in follower.new(_pages(api, {**params, "startTime": follower.start_ms})):
            echo(event)
        if not follow:
            return
        sleep(POLL_S)


@click.group("logs", cls=ApiGroup)
def logs() -> None:
    """CloudWatch Logs of tasks using the awslogs log driver."""


@logs.command("tail")
@click.argument("group")
@click.option("--since", default="10m", show_default=True, help="How far back to start.")
@click.option("--follow", is_flag=True, help="Keep printing new events until interrupted.")
@click.option("--filter-pattern", default=None, help="A CloudWatch Logs filter pattern.")
@click.option("--log-stream-name-prefix", default=None, help="Only streams with this prefix.")
@click.option("--format", "style", type=click.Choice(["detailed", "short"]), default="detailed")
@click.pass_context
def tail(
    ctx: click.Context,
    group: str,
    since: str,
    follow: bool,
    filter_pattern: str | None,
    log_stream_name_prefix: str | None,
    style: str,
) -> None:
    """Print GROUP's events from --since ago; --follow keeps printing new ones."""
    params: dict[str, Any] = {"logGroupName": group, "interleaved": True}
    if filter_pattern:
        params["filterPattern"] = filter_pattern
    if log_stream_name_prefix:
        params["logStreamNamePrefix"] = log_stream_name_prefix
    since_ms = int((time.time() - parse_since(since)) * 1000)
    api = client(ctx, "logs")
    try:
        tail_events(api, params, since_ms, follow, lambda e: click.echo(format_event(e, style)))
    except KeyboardInterrupt:
        return
