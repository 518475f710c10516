"""CloudWatch Logs events: PutLogEvents, GetLogEvents, FilterLogEvents.

PutLogEvents accepts and ignores sequence tokens (as AWS has since 2023) and reports
events outside the accepted window in rejectedLogEventsInfo instead of storing them.
GetLogEvents pages with `f/...` and `b/...` tokens (`tokens.py`); at the end of a
stream it hands back the forward token it was given, so a follower polls with it.
FilterLogEvents reads a group interleaved by time, applies the filter pattern
(`filter_pattern.py`) and stops after `limit` matches or a bounded number of scanned
events, returning a nextToken to carry on: a long search never holds the event loop.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

from dockyard.api.logs.groups import find_group, find_stream, logs_store, now_ms
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import InvalidParameterException
from dockyard.logs import tokens
from dockyard.logs.filter_pattern import FilterPatternError, compile_pattern
from dockyard.logs.store import EVENT_OVERHEAD, Event

MAX_BATCH_BYTES = 1_048_576
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
TOO_OLD_MS = 14 * 86400 * 1000
EVENTS_LIMIT = 10_000
SCAN_CHUNK = 1_000
SCAN_BUDGET = 20_000  # events examined per FilterLogEvents call before it returns a token
FAR_FUTURE_MS = 2**62


def _sequence_token(ms: int) -> str:
    """A token of AWS's shape (digits); clients may send it back, it is ignored."""
    return f"{ms:056d}"


def put_log_events(ctx: ApiContext, params: Params) -> Result:
    group = find_group(ctx, params)
    stream = find_stream(ctx, group, params["logStreamName"])
    events = params["logEvents"]
    stamps = [int(e["timestamp"]) for e in events]
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise InvalidParameterException(
            "Log events in a single PutLogEvents request must be in chronological order."
        )
    size = sum(len(str(e["message"]).encode()) + EVENT_OVERHEAD for e in events)
    if size > MAX_BATCH_BYTES:
        raise InvalidParameterException(
            f"Upload too large: {size} bytes exceeds the maximum allowed of "
            f"{MAX_BATCH_BYTES} bytes."
        )
    now = now_ms(ctx)
    keep_ms = (
        group.retention_days * 86400 * 1000 if group.retention_days is not None else TOO_OLD_MS
    )
    rejected: dict[str, int] = {}
    accepted: list[tuple[int, str]] = []
    for index, (stamp, event) in enumerate(zip(stamps, events, strict=True)):
        if stamp > now + TOO_NEW_MS:
            rejected.setdefault("tooNewLogEventStartIndex", index)
        elif stamp < now - TOO_OLD_MS:
            rejected["tooOldLogEventEndIndex"] = index
        elif stamp < now - keep_ms:
            rejected["expiredLogEventEndIndex"] = index
        else:
            accepted.append((stamp, str(event["message"])))
    if accepted and accepted[-1][0] - accepted[0][0] > MAX_SPAN_MS:
        raise InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours."
        )
    logs_store(ctx).append(stream, accepted, now)
    result: Result = {"nextSequenceToken": _sequence_token(now)}
    if rejected:
        result["rejectedLogEventsInfo"] = rejected
    return result


def _output(event: Event) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingested}


def _limit(params: Params) -> int:
    limit = int(params.get("limit", EVENTS_LIMIT))
    if not 1 <= limit <= EVENTS_LIMIT:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            f"constraint: Member must have value less than or equal to {EVENTS_LIMIT}"
        )
    return limit


def _window(params: Params) -> tuple[int, int]:
    start = min(max(int(params.get("startTime", 0)), 0), FAR_FUTURE_MS)
    end = min(max(int(params.get("endTime", FAR_FUTURE_MS)), 0), FAR_FUTURE_MS)
    if end < start:
        raise InvalidParameterException("endTime must not be before startTime.")
    return start, end


def get_log_events(ctx: ApiContext, params: Params) -> Result:
    group = find_group(ctx, params)
    stream = find_stream(ctx, group, params["logStreamName"])
    limit = _limit(params)
    start, end = _window(params)
    store = logs_store(ctx)
    token = params.get("nextToken")
    if token:
        direction, position = tokens.decode(token)
    else:
        direction, position = ("f" if params.get("startFromHead") else "b"), None
    if direction == "f":
        after = position if position is not None else tokens.START
        events = store.read(stream.id, start, end, limit, after=after)
    else:
        events = store.read(stream.id, start, end, limit, before=position)
    if events:
        forward = tokens.encode("f", events[-1].position)
        backward = tokens.encode("b", events[0].position)
    elif position is None:
        forward, backward = tokens.encode("f", tokens.START), tokens.encode("b", tokens.START)
    elif direction == "f":  # at the end: the same token, to poll with
        forward, backward = str(token), tokens.encode("b", (position[0], position[1] + 1))
    else:  # at the beginning
        forward, backward = tokens.encode("f", (position[0], position[1] - 1)), str(token)
    return {
        "events": [_output(e) for e in events],
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }


def _event_id(event: Event) -> str:
    return f"{event.timestamp:020d}{event.id:036d}"


def filter_log_events(ctx: ApiContext, params: Params) -> Result:
    group = find_group(ctx, params)
    names = params.get("logStreamNames")
    prefix = params.get("logStreamNamePrefix")
    if names and prefix:
        raise InvalidParameterException(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    try:
        matches = compile_pattern(params.get("filterPattern"))
    except FilterPatternError as exc:
        raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None
    limit = _limit(params)
    start, end = _window(params)
    store = logs_store(ctx)
    stream_ids: list[int] | None = None
    searched: list[str] = []
    if names or prefix:
        scope = [store.stream(group.id, name) for name in names] if names else []
        if prefix:
            scope = list(store.streams(group.id, prefix=prefix, limit=EVENTS_LIMIT))
        streams = [s for s in scope if s is not None]
        stream_ids = [s.id for s in streams]
        searched = [s.name for s in streams]
    fingerprint = zlib.crc32(
        repr((group.id, sorted(names or []), prefix, params.get("filterPattern"))).encode()
    )
    token = params.get("nextToken")
    position = tokens.decode_filter(token, fingerprint) if token else tokens.START
    found: list[Event] = []
    budget, exhausted = SCAN_BUDGET, stream_ids == []
    while not exhausted and len(found) < limit and budget > 0:
        want = min(SCAN_CHUNK, budget)
        chunk = store.scan(group.id, start, end, position, want, stream_ids=stream_ids)
        for event in chunk:
            position = event.position
            budget -= 1
            if matches(event.message):
                found.append(event)
                if len(found) == limit:
                    break
        # a short chunk read to its last event: nothing more in the window
        exhausted = len(chunk) < want and (not chunk or position == chunk[-1].position)
    stream_names = store.stream_names(sorted({e.stream_id for e in found})) if found else {}
    if not names and not prefix:
        searched = sorted(set(stream_names.values()))
    result: Result = {
        "events": [
            {
                "logStreamName": stream_names[e.stream_id],
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingested,
                "eventId": _event_id(e),
            }
            for e in found
        ],
        "searchedLogStreams": [
            {"logStreamName": name, "searchedCompletely": exhausted} for name in searched
        ],
    }
    if not exhausted:
        result["nextToken"] = tokens.encode_filter(position, fingerprint)
    return result


HANDLERS: dict[str, Handler] = {
    "PutLogEvents": put_log_events,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}
