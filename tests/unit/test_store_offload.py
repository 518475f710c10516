"""Store work off the event loop (store/offload.py) and callbacks back onto it
(context.py `ApiContext.on_loop`): contexts carried into the thread, inline on SQLite,
callbacks from a worker thread run on the loop in the order they were made; background
work that yields with `requests_first` lets requests that arrived meanwhile go first."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path

import pytest
import uvloop

from dockyard.context import ApiContext
from dockyard.store import open_store
from dockyard.store.offload import Serial, call_after_requests, off_loop, requests_first
from dockyard.store.sql import SqlStore, sqlite_url

CALLER: ContextVar[str | None] = ContextVar("caller", default=None)


class Blocking:
    """A store that says it blocks, with its own pool (what PostgreSQL gives)."""

    blocking = True

    def __init__(self) -> None:
        self.executor: Executor = ThreadPoolExecutor(2)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqlStore]:
    store = open_store(sqlite_url(tmp_path))
    yield store
    store.close()


def _where() -> tuple[str, str | None]:
    return threading.current_thread().name, CALLER.get()


def test_a_blocking_store_runs_work_in_its_pool_with_the_callers_context() -> None:
    store = Blocking()

    async def scenario() -> tuple[str, str | None]:
        CALLER.set("alice")
        return await off_loop(store, _where)  # type: ignore[arg-type]

    thread, caller = asyncio.run(scenario())
    assert thread != threading.main_thread().name
    assert caller == "alice"


def test_sqlite_runs_work_inline(sqlite: SqlStore) -> None:
    assert not sqlite.blocking

    async def scenario() -> tuple[str, str | None]:
        return await off_loop(sqlite, _where)

    assert asyncio.run(scenario())[0] == threading.main_thread().name


def test_callbacks_from_a_worker_thread_run_on_the_loop_in_order(sqlite: SqlStore) -> None:
    ctx = ApiContext(store=sqlite)
    seen: list[tuple[int, bool]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ctx.loop = loop

        def record(n: int) -> None:
            seen.append((n, threading.current_thread() is threading.main_thread()))

        def commit() -> None:  # what a handler does after its commit, in a worker thread
            for n in range(50):
                ctx.on_loop(record, n)

        await loop.run_in_executor(None, commit)
        await asyncio.sleep(0)
        ctx.on_loop(record, 50)  # on the loop: called at once

    asyncio.run(scenario())
    assert seen == [(n, True) for n in range(51)]


def test_serial_runs_calls_in_order_in_one_thread() -> None:
    serial = Serial(threaded=True, name="test-serial")
    seen: list[tuple[int, str]] = []

    def note(n: int) -> None:
        seen.append((n, threading.current_thread().name))

    async def scenario() -> int:
        for n in range(20):
            serial.submit(functools.partial(note, n))
        return await serial.call(lambda: len(seen))

    assert asyncio.run(scenario()) == 20  # everything submitted before ran first
    serial.close()
    assert [n for n, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"test-serial_0"}


LOOPS = [asyncio.new_event_loop, uvloop.new_event_loop]
Work = Callable[[list[str], Callable[[], object]], Awaitable[None]]


def _what_ran(new_loop: Callable[[], asyncio.AbstractEventLoop], work: Work) -> list[str]:
    """Run `work(order, arrive)` on a fresh loop with a socket that, as aiohttp does,
    starts a handler task when it turns readable (the handler notes "request");
    `arrive()` sends that request. Returns the order in which things ran."""
    order: list[str] = []
    server, client = socket.socketpair()
    server.setblocking(False)

    async def handler() -> None:
        server.recv(16)
        order.append("request")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(server, lambda: loop.create_task(handler()))
        try:
            await work(order, lambda: client.send(b"x"))
        finally:
            loop.remove_reader(server)

    loop = new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        server.close()
        client.close()
    return order


@pytest.mark.parametrize("new_loop", LOOPS)
def test_requests_that_arrive_during_background_work_run_before_its_next_chunk(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """A request that arrives while a background chunk runs is handled before the next
    chunk (on a busy loop a plain `sleep(0)` resumes the background first: every request
    waits a whole chunk more)."""

    async def background(order: list[str], arrive: Callable[[], object]) -> None:
        for chunk in range(3):
            order.append(f"chunk {chunk}")
            if chunk == 0:
                arrive()  # while this chunk holds the loop
            await requests_first()

    assert _what_ran(new_loop, background)[:3] == ["chunk 0", "request", "chunk 1"]


@pytest.mark.parametrize("new_loop", LOOPS)
def test_a_callback_chain_lets_requests_go_first_too(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """`call_after_requests`: the callback form (the agent hub's report batches)."""

    async def background(order: list[str], arrive: Callable[[], object]) -> None:
        done = asyncio.Event()

        def chunk(n: int) -> None:
            order.append(f"chunk {n}")
            if n == 0:
                arrive()
            if n < 2:
                call_after_requests(functools.partial(chunk, n + 1))
            else:
                done.set()

        asyncio.get_running_loop().call_soon(chunk, 0)
        await done.wait()

    assert _what_ran(new_loop, background)[:3] == ["chunk 0", "request", "chunk 1"]
