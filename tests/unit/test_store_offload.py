"""Store work off the event loop (store/offload.py) and callbacks back onto it
(context.py `ApiContext.on_loop`): contexts carried into the thread, inline on SQLite,
callbacks from a worker thread run on the loop in the order they were made."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path

import pytest

from dockyard.context import ApiContext
from dockyard.store import open_store
from dockyard.store.offload import Serial, off_loop
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
