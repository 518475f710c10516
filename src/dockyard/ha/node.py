"""One server among several on a shared PostgreSQL: election, fenced controllers, changes.

    HaNode.start()
      |- Elector (elector.py): lease acquire/renew every second
      |     elected(epoch) -> start_controllers() under FENCE = (instance, epoch), plus the
      |                       orphan sweep (sweep.py); every write they make is fenced
      |     deposed        -> cancel them (HAProxy keeps running: the next leader adopts it)
      '- Listener (notify.py): another server committed -> on_change(leader, kinds written)

The sweep runs every SWEEP_S (2 s): it reads the instances (in a thread) only when a
registered server is dead and not yet swept clean, or every RESEED_EVERY-th pass (30 s),
when it also hands back the disconnected-since map to reseed the leader's `Away` from.

The server (server.py) gives the callables, so this package imports no controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from dockyard.ha import lease
from dockyard.ha.elector import INTERVAL_S, TTL_S, Elector
from dockyard.ha.notify import Kinds, Listener, dsn_of
from dockyard.ha.sweep import Swept, sweep
from dockyard.store.sql import FENCE, SqlStore

log = logging.getLogger("dockyard.ha")

SWEEP_S = 2.0
RESEED_EVERY = 15  # sweeps: the full read of the instances at least every 30 s


class HaNode:
    def __init__(
        self,
        store: SqlStore,
        name: str,
        url: str,
        *,
        start_controllers: Callable[[], list[asyncio.Task[None]]],
        on_change: Callable[[bool, Kinds], None],
        on_swept: Callable[[Swept], None],
        on_deposed: Callable[[], None] = lambda: None,
        ttl_s: float = TTL_S,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.name = name
        self.start_controllers = start_controllers
        self.on_change = on_change
        self.on_swept = on_swept
        self.on_deposed = on_deposed
        self.clock = clock
        self.elector = Elector(
            store.engine, name, url, self._elected, self._deposed,
            ttl_s=ttl_s, interval_s=interval_s,
        )  # fmt: skip
        store.writer_id = self.elector.instance
        self.listener = Listener(dsn_of(store.engine), self.elector.instance, self._changed)
        self.controllers: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def leader(self) -> bool:
        return self.elector.leader

    def start(self) -> None:
        self.listener.start()
        self._tasks.append(asyncio.create_task(self.elector.run()))

    def _elected(self, epoch: int) -> None:
        token = FENCE.set((self.elector.instance, epoch))
        try:  # tasks copy the context: every transaction they open is fenced
            self.store.stale()  # another leader wrote before us: reload what we cached
            self.controllers = [*self.start_controllers(), asyncio.create_task(self._sweeps())]
        finally:
            FENCE.reset(token)

    def _deposed(self) -> None:
        for task in self.controllers:
            task.cancel()
        self.controllers = []
        self.on_deposed()

    def _changed(self, kinds: Kinds) -> None:
        self.store.stale()
        self.on_change(self.leader, kinds)

    async def _sweeps(self) -> None:
        clean: frozenset[str] = frozenset()  # dead servers whose agents were swept
        for count in itertools.count():
            try:
                rows = await asyncio.to_thread(lease.servers, self.store.engine, self.elector.ttl_s)
                alive = {row["name"] for row in rows if row["alive"]}
                dead = frozenset(row["name"] for row in rows if not row["alive"])
                clean &= dead  # a server back alive may have connected agents meanwhile
                reseed = count % RESEED_EVERY == 0
                if reseed or not dead <= clean:
                    now = self.clock()
                    swept = await asyncio.to_thread(sweep, self.store, alive, now, reseed=reseed)
                    clean = dead
                    self.on_swept(swept)
            except Exception:
                log.exception("orphaned agents sweep failed; retrying")
            await asyncio.sleep(SWEEP_S)

    def status(self) -> list[dict[str, object]]:
        return lease.servers(self.store.engine, self.elector.ttl_s)

    async def close(self) -> None:
        tasks = [*self.controllers, *self._tasks]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self.controllers = []
        await self.elector.close()  # deposes (on_deposed) while still the leader
        self.listener.stop()
