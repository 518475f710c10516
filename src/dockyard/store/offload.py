"""Store work off the event loop: `await off_loop(store, fn, *args)`, and `Serial`.

On a blocking store (`Store.blocking`: PostgreSQL, whose every statement is a network
round trip) `fn(*args)` runs in the store's bounded thread pool (`Store.executor`), in a
copy of the caller's context, so ContextVars (the caller's principal, the leader's
`FENCE`) hold in the thread. On SQLite it runs inline, on the event loop: measured, the
thread hop costs more than the local file's calls (store/README.md).

`fn` must touch no asyncio object (websocket, queue, event, future): what a handler or
controller calls back after a commit goes through `ApiContext.on_loop` (context.py),
which hands it to the event loop.

`requests_first()` (`call_after_requests` for callbacks) is how background work (a service
step, a batch of agent reports) gives the loop back: it resumes after the requests that
reached the loop's sockets meanwhile.

`Serial` is for an object that is not thread-safe and reads the store (the agent hub's
DesiredSets): every call to it runs, in order, in one thread of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from dockyard.store.base import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(store: Store, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`, in the store's thread pool when the store blocks."""
    if not store.blocking:
        return fn(*args, **kwargs)
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(store.executor, lambda: context.run(fn, *args, **kwargs))


HOPS = 3  # loop turns `requests_first` waits (see there)


async def requests_first() -> None:
    """Yield to the event loop and resume only after it has polled its sockets once and
    run what that started (the handlers of requests that arrived meanwhile).

    A plain `sleep(0)` resumes ahead of them: the loop queues it before polling, so on a
    busy loop the next background chunk ran before any request that arrived during this
    one (each request waiting a whole chunk more: measured in bench/README.md). uvloop
    runs I/O callbacks while polling, so the handler task they create is queued behind
    the first hop and ahead of the second; asyncio's own loop queues the I/O callback
    itself behind the first hop and the handler task one turn later: hence three hops.
    Each hop is one loop turn (microseconds when nothing else is ready)."""
    for _ in range(HOPS):
        await asyncio.sleep(0)


def call_after_requests(fn: Callable[[], object]) -> None:
    """`fn()` on the running loop once the requests that arrived meanwhile have started:
    the callback form of `requests_first`."""
    loop = asyncio.get_running_loop()
    call: Callable[[], object] = fn
    for _ in range(HOPS - 1):
        call = functools.partial(loop.call_soon, call)
    loop.call_soon(call)


class Serial:
    """Runs calls one after another: inline (`threaded=False`), or in submission order in
    one thread of its own (`threaded=True`)."""

    def __init__(self, threaded: bool, name: str = "serial") -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name) if threaded else None

    def submit(self, fn: Callable[[], None]) -> None:
        """Run `fn` now (inline), or after what was submitted before (threaded; a failure
        is logged)."""
        if self._thread is None:
            fn()
        else:
            self._thread.submit(_logged, fn)

    async def call(self, fn: Callable[[], T]) -> T:
        """`fn()`'s result, after what was submitted before; awaited without blocking
        the event loop when threaded."""
        if self._thread is None:
            return fn()
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)


def _logged(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        log.exception("%s failed", getattr(fn, "__qualname__", fn))
