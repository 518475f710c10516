"""The election loop of one server process: heartbeat, acquire/renew, start/stop controllers.

    every interval_s (1 s), in a thread (the event loop never waits on the database):
        heartbeat(servers row); lease = acquire(ttl_s)
    lease mine, new epoch        -> on_elected(epoch)   (the server starts its controllers
                                                          under FENCE = (instance, epoch))
    lease not mine, or no renewal
    for longer than ttl_s        -> on_deposed()        (the server cancels them)

Stepping down on a failed renewal (database unreachable) before the TTL runs out keeps a
partitioned leader from acting on a lease it may have lost; its writes are fenced anyway.
Leaving (`close`): the lease expires at once, so another server takes it within a tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from sqlalchemy.engine import Engine

from dockyard.ha import lease

log = logging.getLogger("dockyard.ha")

TTL_S = 5.0
INTERVAL_S = 1.0


def new_instance_id(name: str) -> str:
    """A server process's id: its name (stable across restarts) + a per-process suffix."""
    return f"{name}/{uuid.uuid4().hex[:12]}"


class Elector:
    def __init__(
        self,
        engine: Engine,
        name: str,
        url: str,
        on_elected: Callable[[int], None],
        on_deposed: Callable[[], None],
        *,
        ttl_s: float = TTL_S,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.engine = engine
        self.name = name
        self.url = url
        self.instance = new_instance_id(name)
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.ttl_s = ttl_s
        self.interval_s = interval_s
        self.epoch: int | None = None  # the epoch this process leads at; None: follower
        self._renewed = 0.0  # monotonic time of the last successful acquire

    @property
    def leader(self) -> bool:
        return self.epoch is not None

    def register(self) -> None:
        lease.register(self.engine, self.name, self.instance, self.url)

    def _tick(self) -> lease.Lease:
        lease.heartbeat(self.engine, self.name, self.instance)
        return lease.acquire(self.engine, self.instance, self.ttl_s)

    def _apply(self, current: lease.Lease | None, now: float) -> None:
        if current is not None and current.held_by(self.instance):
            self._renewed = now
            if self.epoch != current.epoch:
                if self.epoch is not None:
                    self._depose()
                self.epoch = current.epoch
                log.info("%s is the leader (epoch %d)", self.instance, current.epoch)
                self.on_elected(current.epoch)
            return
        if self.epoch is not None and (current is not None or now - self._renewed > self.ttl_s):
            self._depose()

    def _depose(self) -> None:
        log.warning("%s is no longer the leader (epoch %s)", self.instance, self.epoch)
        self.epoch = None
        self.on_deposed()

    async def run(self) -> None:
        await asyncio.to_thread(self.register)
        while True:
            try:
                current: lease.Lease | None = await asyncio.to_thread(self._tick)
            except Exception as exc:  # the database is away: retry
                log.warning("lease renewal failed: %s", exc)
                current = None
            self._apply(current, time.monotonic())
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        """Leave: stop leading and let the lease expire now."""
        if self.epoch is not None:
            self._depose()
        try:
            await asyncio.to_thread(lease.release, self.engine, self.instance)
        except Exception as exc:  # best effort; the TTL frees it anyway
            log.warning("lease release failed: %s", exc)
