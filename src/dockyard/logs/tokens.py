"""Positions in a log stream and the tokens that carry them, as CloudWatch Logs shapes them.

An event's position is (timestamp in ms, event id): events are ordered by timestamp,
ties by arrival. GetLogEvents hands out `f/<digits>` (read on after this position) and
`b/<digits>` (read back before it); FilterLogEvents an opaque `nextToken`. Pure.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidParameterException

Position = tuple[int, int]  # (timestamp ms, event id)
START: Position = (-1, -1)  # before every event
_DIGITS = 20
_MAX = 2**62  # beyond any timestamp or id; SQLite integers stop at 2**63
_TOKEN = re.compile(rf"(?P<direction>[fb])/(?P<ts>\d{{{_DIGITS}}})(?P<id>\d{{{_DIGITS}}})")


def encode(direction: str, position: Position) -> str:
    """`f/...` or `b/...`: two zero-padded fields (a negative timestamp is clamped)."""
    ts, event_id = position
    return f"{direction}/{max(ts, 0):0{_DIGITS}d}{max(event_id, 0):0{_DIGITS}d}"


def decode(token: str) -> tuple[str, Position]:
    """("f" | "b", position); anything else is InvalidParameterException as AWS answers."""
    match = _TOKEN.fullmatch(token)
    if match is None or int(match["ts"]) > _MAX or int(match["id"]) > _MAX:
        raise InvalidParameterException("The specified nextToken is invalid.")
    return match["direction"], (int(match["ts"]), int(match["id"]))


def encode_filter(position: Position, fingerprint: int) -> str:
    """FilterLogEvents' token: the last scanned position and which query it belongs to."""
    return f"{position[0]:x}.{position[1]:x}.{fingerprint & 0xFFFFFFFF:x}"


def decode_filter(token: str, fingerprint: int) -> Position:
    parts = token.split(".")
    try:
        ts, event_id, owner = (int(part, 16) for part in parts)
    except ValueError:
        raise InvalidParameterException("The specified nextToken is invalid.") from None
    if ts > _MAX or event_id > _MAX:
        raise InvalidParameterException("The specified nextToken is invalid.")
    if owner != fingerprint & 0xFFFFFFFF:
        raise InvalidParameterException(
            "The specified nextToken is invalid: it belongs to a different query."
        )
    return ts, event_id
