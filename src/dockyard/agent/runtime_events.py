"""Fan-out of runtime events to subscribers, fed from the loop or from a foreign thread.

Used by `runtime_docker.DockerRuntime` (its events thread publishes with
`publish_threadsafe`) and `runtime_fake.FakeRuntime` (publishes on
the loop). Each subscription owns an unbounded asyncio.Queue: events are small and a
slow subscriber must not stall the engine's stream for the others.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from dockyard.agent.runtime import RuntimeEvent

_END = None  # queued to end a subscription's iteration


class EventSubscription:
    """An async iterator of events, registered from the moment it is created."""

    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop) -> None:
        self._hub = hub
        self.loop = loop
        self.queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self._done = False

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> RuntimeEvent:
        if self._done:
            raise StopAsyncIteration
        event = await self.queue.get()
        if event is _END:
            self._done = True
            self._hub.unsubscribe(self)
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._done = True
        self._hub.unsubscribe(self)

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class EventHub:
    """Subscribers and their queues; `close()` ends every subscription."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: set[EventSubscription] = set()
        self._closed = False

    def subscribe(self) -> EventSubscription:
        """Call on the event loop; a subscription after `close()` is already ended."""
        subscription = EventSubscription(self, asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                subscription.queue.put_nowait(_END)
            else:
                self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: EventSubscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def publish(self, event: RuntimeEvent) -> None:
        """From the subscribers' loop thread."""
        for subscription in self._snapshot():
            subscription.queue.put_nowait(event)

    def publish_threadsafe(self, event: RuntimeEvent | None) -> None:
        """From any thread."""
        for subscription in self._snapshot():
            try:
                subscription.loop.call_soon_threadsafe(subscription.queue.put_nowait, event)
            except RuntimeError:  # that subscriber's loop is closed: nobody is listening
                self.unsubscribe(subscription)

    def close(self) -> None:
        """End every subscription (thread-safe); later subscriptions end at once."""
        with self._lock:
            self._closed = True
        self.publish_threadsafe(_END)
        with self._lock:
            self._subscriptions.clear()

    def _snapshot(self) -> list[EventSubscription]:
        with self._lock:
            return list(self._subscriptions)
