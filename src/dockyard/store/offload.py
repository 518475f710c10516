"""Store work off the event loop: `await off_loop(store, fn, *args)`, and `Serial`.

On a blocking store (`Store.blocking`: PostgreSQL, whose every statement is a network
round trip) `fn(*args)` runs in the store's bounded thread pool (`Store.executor`), in a
copy of the caller's context, so ContextVars (the caller's principal, the leader's
`FENCE`) hold in the thread. On SQLite it runs inline, on the event loop: measured, the
thread hop costs more than the local file's calls (store/README.md).

`fn` must touch no asyncio object (websocket, queue, event, future): what a handler or
controller calls back after a commit goes through `ApiContext.on_loop` (context.py),
which hands it to the event loop.

`Serial` is for an object that is not thread-safe and reads the store (the agent hub's
DesiredSets): every call to it runs, in order, in one thread of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
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
