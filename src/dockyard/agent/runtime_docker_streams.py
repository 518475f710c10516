"""Docker's long-lived streams, each read on its own thread: `/events` and followed logs.

Used by `runtime_docker.DockerRuntime`. A stream may stay quiet for hours, so it must
not hold one of the runtime's call workers; and a blocked read can only be ended from
outside by closing its socket, so `StreamThreads` keeps every open stream and closes
them all on shutdown. Events go to `runtime_events.EventHub`; log chunks to an
asyncio.Queue per reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

import docker.errors

from dockyard.agent import runtime_timeouts as timeouts
from dockyard.agent.runtime import LABEL_TASK_ARN, ContainerRuntimeError
from dockyard.agent.runtime_docker_mapping import NANOS, event_from_docker
from dockyard.agent.runtime_events import EventHub

log = logging.getLogger(__name__)

EVENT_FILTERS = {
    "type": ["container"],
    "label": [LABEL_TASK_ARN],
    # health_status matches "health_status: healthy"; exec_* (one per health probe) stay out
    "event": ["create", "start", "die", "oom", "health_status", "destroy"],
}


class StreamThreads:
    """The threads reading streams, and the streams they hold open."""

    def __init__(self) -> None:
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._streams: set[Any] = set()  # SDK CancellableStreams
        self._threads: list[threading.Thread] = []

    def start(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def track(self, stream: Any) -> bool:
        """Register an open stream; False (and the stream closed) when shutting down."""
        with self._lock:
            if not self.closing.is_set():
                self._streams.add(stream)
                return True
        close_stream(stream)
        return False

    def untrack(self, stream: Any) -> None:
        if stream is not None:
            with self._lock:
                self._streams.discard(stream)
            close_stream(stream)

    def shut(self) -> list[threading.Thread]:
        """Close every stream; return the threads for the caller to join."""
        self.closing.set()
        with self._lock:
            streams, threads = list(self._streams), list(self._threads)
        for stream in streams:
            close_stream(stream)
        return threads


def pump_events(api: Any, hub: EventHub, threads: StreamThreads, since_ns: int) -> None:
    """The events thread: read, drop what a reconnect replays, publish; until shut."""
    last_ns, seen_at_last = since_ns, set[tuple[str, str]]()
    backoff = timeouts.EVENTS_RECONNECT_MIN_S
    while not threads.closing.is_set():
        stream = None
        try:
            stream = api.events(
                since=f"{last_ns // NANOS}.{last_ns % NANOS:09d}",
                filters=EVENT_FILTERS,
                decode=True,
            )
            if not threads.track(stream):
                break
            for raw in stream:
                backoff = timeouts.EVENTS_RECONNECT_MIN_S
                nanos, key = int(raw.get("timeNano") or 0), (raw.get("id"), raw.get("Action"))
                if nanos < last_ns or (nanos == last_ns and key in seen_at_last):
                    continue  # replayed by the reconnect's `since`
                if nanos > last_ns:
                    last_ns, seen_at_last = nanos, set()
                seen_at_last.add(key)
                event = event_from_docker(raw)
                if event is not None:
                    hub.publish_threadsafe(event)
        except Exception as exc:
            if not threads.closing.is_set():
                log.warning("docker events stream failed (%s); reconnecting", exc)
        finally:
            threads.untrack(stream)
        if threads.closing.wait(backoff):
            break
        backoff = min(backoff * 2, timeouts.EVENTS_RECONNECT_MAX_S)


async def follow_logs(
    api: Any, threads: StreamThreads, container_id: str, tail: int | str, **options: Any
) -> AsyncGenerator[bytes, None]:
    """Chunks until the container exits; closing the generator closes the stream.
    `options` go to the SDK's `logs` (`timestamps`, `since`: the log shipper's)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    handoff = threading.Lock()  # orders "stream opened" against "reader gone"
    opened: list[Any] = []
    reader_gone = threading.Event()

    def post(item: bytes | BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed: nobody reads any more
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        stream = None
        try:
            stream = api.logs(container_id, stream=True, follow=True, tail=tail, **options)
            with handoff:
                if reader_gone.is_set() or not threads.track(stream):
                    return
                opened.append(stream)
            for chunk in stream:
                post(chunk)
        except BaseException as exc:
            post(exc)
        finally:
            threads.untrack(stream)
            post(None)

    threads.start(f"docker-logs-{container_id[:12]}", pump)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, docker.errors.NotFound):
                return
            if isinstance(item, BaseException):
                raise ContainerRuntimeError(f"logs {container_id}: {item}") from item
            yield item
    finally:
        with handoff:
            reader_gone.set()
        for stream in opened:
            close_stream(stream)


def close_stream(stream: Any) -> None:
    try:
        stream.close()
    except Exception as exc:  # already closed, or the socket is gone
        log.debug("closing docker stream: %s", exc)
