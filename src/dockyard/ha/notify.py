"""Changes committed by other servers, heard through PostgreSQL's LISTEN/NOTIFY.

Every write transaction of a server on a shared database that wrote something runs
`pg_notify('dockyard_changes', '<writer id>|KIND,KIND|<details>')` (store/changes.py
`change_payload`: the names of the kinds it wrote, then what they touched as compact JSON,
left out when too long), delivered at commit. `Listener` holds its own psycopg connection on
a thread (the event loop never blocks on it), LISTENs, and calls `on_change(changes)`
(wakeups.py `Changes`) on the event loop for notifications from other writers, at most once
per `debounce_s` (a burst of commits is one call: their kinds and details merged, wakeups.py
`merge`). After a lost connection it reconnects and calls `on_change(None)` once
(notifications may have been missed: anything may have changed); the controllers' periodic
safety passes remain the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import Engine

from dockyard.ha.wakeups import Changes, Key, merge
from dockyard.store.sql import CHANGES_CHANNEL

Kinds = Changes | None  # what other servers wrote; None: unknown (anything)

log = logging.getLogger("dockyard.ha.notify")


def dsn_of(engine: Engine) -> str:
    """A libpq connection string for the engine's database (without the driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def parse_change(payload: str) -> tuple[str, Kinds]:
    """(writer, changes) of a NOTIFY payload `writer|KIND,KIND|{details}` or, without
    details (too long, or an older server), `writer|KIND,KIND`: every kind then unknown. The
    writer id may hold `|`; the details hold none. A writer id alone names nothing: None."""
    head, bar, tail = payload.rpartition("|")
    if not bar:
        return payload, None
    text = ""
    if tail.startswith("{"):
        text = tail
        writer, bar, tail = head.rpartition("|")
        if not bar:
            return head, None
    else:
        writer = head
    kinds = frozenset(kind for kind in tail.split(",") if kind)
    return writer, Changes(kinds, _details(text, kinds))


def _details(text: str, kinds: frozenset[str]) -> dict[str, frozenset[Key]]:
    """The details of the kinds written (store/changes.py); anything malformed: unknown."""
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    details: dict[str, frozenset[Key]] = {}
    for kind, value in found.items() if isinstance(found, dict) else ():
        if kind not in kinds:
            continue
        if isinstance(value, list) and all(isinstance(key, str) for key in value):
            details[kind] = frozenset(value)
        elif isinstance(value, dict) and all(
            isinstance(groups, list) and all(isinstance(g, str) for g in groups)
            for groups in value.values()
        ):
            details[kind] = frozenset(
                (cluster, group) for cluster, groups in value.items() for group in groups
            )
    return details


class Listener:
    def __init__(
        self,
        dsn: str,
        me: str,
        on_change: Callable[[Kinds], None],
        *,
        debounce_s: float = 0.05,
    ) -> None:
        self.dsn = dsn
        self.me = me
        self.on_change = on_change
        self.debounce_s = debounce_s
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending = False
        self._heard_since: Kinds = Changes()  # since the last call; None: anything

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="dockyard-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    if not first:
                        self._heard(None)  # reconnected: what was missed is unknown
                    first = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            writer, kinds = parse_change(note.payload)
                            if writer != self.me:
                                self._heard(kinds)
            except psycopg.Error as exc:
                log.warning("LISTEN %s: %s; reconnecting", CHANGES_CHANNEL, exc)
                self._stop.wait(1.0)

    def _heard(self, kinds: Kinds) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._schedule, kinds)

    def _schedule(self, kinds: Kinds) -> None:  # on the event loop
        self._heard_since = merge(self._heard_since, kinds)
        if self._pending or self._loop is None:
            return
        self._pending = True
        self._loop.call_later(self.debounce_s, self._fire)

    def _fire(self) -> None:
        self._pending = False
        kinds, self._heard_since = self._heard_since, Changes()
        try:
            self.on_change(kinds)
        except Exception:
            log.exception("handling changes from other servers failed")
