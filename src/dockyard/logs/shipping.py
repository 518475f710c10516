"""The server's side of log shipping: store one agent batch, answer its acknowledgement.

An agent sends `{"type": "log_events", "id", "group", "stream", "createGroup",
"events": [[docker_ns, seq, message], ...]}` (see `dockyard.agent.logs_shipper`).
Events at or before the stream's stored ship position were stored by an earlier send
whose acknowledgement was lost (agent killed, connection dropped): they are dropped,
so a resent batch is never stored twice. The stream is created on first use; the
group only when the container's `awslogs-create-group` is true, as ECS does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dockyard.logs.store import LogStore

MESSAGE_TYPE = "log_events"
ACK_TYPE = "log_ack"
MAX_EVENTS = 10_000
NS_PER_MS = 1_000_000


def _events(raw: Any) -> list[tuple[tuple[int, int], str]] | None:
    """[(position, message)] in order, or None when the batch is malformed."""
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
        return None
    out = []
    for item in raw:
        if (
            not isinstance(item, list)
            or len(item) != 3  # [ns, seq, message]
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in item[:2])
            or not isinstance(item[2], str)
        ):
            return None
        out.append(((item[0], item[1]), item[2]))
    return out


def ingest(store: LogStore, message: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """Store one batch; returns the acknowledgement to send back (with `error` if refused)."""
    ack: dict[str, Any] = {"type": ACK_TYPE, "id": message.get("id")}
    group_name, stream_name = message.get("group"), message.get("stream")
    events = _events(message.get("events"))
    if not isinstance(group_name, str) or not isinstance(stream_name, str) or events is None:
        ack["error"] = "InvalidParameterException: malformed log_events message."
        return ack
    group = store.group(group_name)
    if group is None and message.get("createGroup") is True:
        store.create_group(group_name, now_ms)
        group = store.group(group_name)
    if group is None:
        ack["error"] = (
            f"ResourceNotFoundException: The specified log group does not exist: {group_name} "
            "(create it, or set awslogs-create-group to true)."
        )
        return ack
    stream = store.stream(group.id, stream_name)
    if stream is None:
        store.create_stream(group.id, stream_name, now_ms)
        stream = store.stream(group.id, stream_name)
        assert stream is not None
    fresh = [(pos, text) for pos, text in events if pos > stream.ship_position]
    if fresh:
        store.append(
            stream,
            [(pos[0] // NS_PER_MS, text) for pos, text in fresh],
            now_ms,
            ship_position=max(pos for pos, _ in fresh),
        )
    ack["stored"] = len(fresh)
    return ack


_SENDING: set[asyncio.Task[None]] = set()  # acknowledgements in flight (kept referenced)


def receive(
    store: LogStore | None,
    message: Mapping[str, Any],
    now_ms: int,
    send_str: Callable[[str], Awaitable[None]],
) -> None:
    """For the agent hub: store the batch now, send the acknowledgement in the background."""
    if store is None:
        ack = {"type": ACK_TYPE, "id": message.get("id"), "error": "Logs are not enabled."}
    else:
        ack = ingest(store, message, now_ms)

    async def send() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send_str(json.dumps(ack))

    task = asyncio.get_running_loop().create_task(send())
    _SENDING.add(task)
    task.add_done_callback(_SENDING.discard)
