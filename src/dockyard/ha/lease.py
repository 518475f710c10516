"""The controllers' lease and the servers registry: SQL on PostgreSQL, the database's clock.

Role: leader election. One row of `leases` (name 'controllers'): holder (a server
process id), epoch, expires_at, acquired_at. `acquire` runs every ~1 s on every server in
one transaction holding the row lock (FOR UPDATE):

    holder is me                 -> renew (expires_at = now() + ttl), epoch unchanged
    expired or free              -> take: holder = me, epoch + 1, acquired_at = now()
    held by another, not expired -> nothing (follower)

The epoch is the fencing token: the leader's controller writes check `holder == me AND
epoch == mine` in their own transaction (`SqlTx.fence`, store/sql.py), under a share lock
on the same row, so a deposed leader (paused past its lease) cannot write once another
server has taken the lease. `servers` holds one row per server name with a heartbeat, for
`dockyard status`.

Neighbours: `elector.py` (the loop), `notify.py` (LISTEN), store/sql.py (fence, write mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from dockyard.store import schema
from dockyard.store.sql import CONTROLLERS_LEASE

LEASES = schema.leases
SERVERS = schema.servers


@dataclass(frozen=True)
class Lease:
    holder: str | None
    epoch: int
    acquired_at: datetime | None
    expires_at: datetime | None

    def held_by(self, instance: str) -> bool:
        return self.holder == instance


def _later(seconds: float) -> sa.ColumnElement[Any]:
    """now() + `seconds` on the database's clock."""
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, float(seconds))


def acquire(engine: Engine, instance: str, ttl_s: float, name: str = CONTROLLERS_LEASE) -> Lease:
    """Take or renew the lease for `instance` if it may; the lease as it stands after."""
    with engine.begin() as conn:
        conn.execute(
            postgresql.insert(LEASES)
            .values(name=name, holder=None, epoch=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        live = sa.and_(LEASES.c.expires_at.is_not(None), LEASES.c.expires_at > sa.func.now())
        row = conn.execute(
            sa.select(LEASES.c.holder, LEASES.c.epoch, live.label("live"))
            .where(LEASES.c.name == name)
            .with_for_update()
        ).one()
        holder, epoch, is_live = row[0], int(row[1]), bool(row[2])
        where = LEASES.c.name == name
        if holder == instance:  # renew (also when it expired and nobody took it)
            conn.execute(sa.update(LEASES).where(where).values(expires_at=_later(ttl_s)))
        elif holder is None or not is_live:
            conn.execute(
                sa.update(LEASES)
                .where(where)
                .values(
                    holder=instance,
                    epoch=epoch + 1,
                    acquired_at=sa.func.now(),
                    expires_at=_later(ttl_s),
                )
            )
        return _read(conn, name)


def release(engine: Engine, instance: str, name: str = CONTROLLERS_LEASE) -> None:
    """Let the lease expire now if `instance` holds it (a clean shutdown: no wait for the
    TTL). The holder stays; the next server to acquire bumps the epoch."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(LEASES)
            .where(LEASES.c.name == name, LEASES.c.holder == instance)
            .values(expires_at=sa.func.now())
        )


def _read(conn: Connection, name: str) -> Lease:
    row = conn.execute(
        sa.select(LEASES.c.holder, LEASES.c.epoch, LEASES.c.acquired_at, LEASES.c.expires_at).where(
            LEASES.c.name == name
        )
    ).one()
    return Lease(row[0], int(row[1]), row[2], row[3])


def register(engine: Engine, name: str, instance: str, url: str) -> None:
    """This server process starts: its row (a restart under the same name replaces it)."""
    values = {
        "instance": instance,
        "url": url,
        "started_at": sa.func.now(),
        "heartbeat_at": sa.func.now(),
    }
    with engine.begin() as conn:
        conn.execute(
            postgresql.insert(SERVERS)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )


def heartbeat(engine: Engine, name: str, instance: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(SERVERS)
            .where(SERVERS.c.name == name, SERVERS.c.instance == instance)
            .values(heartbeat_at=sa.func.now())
        )


def servers(engine: Engine, ttl_s: float, name: str = CONTROLLERS_LEASE) -> list[dict[str, Any]]:
    """Every registered server: alive (heartbeat within `ttl_s`), which is the leader (holds
    a live lease) and since when; times as ISO 8601 strings."""
    alive = SERVERS.c.heartbeat_at > sa.func.now() - sa.func.make_interval(
        0, 0, 0, 0, 0, 0, float(ttl_s)
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(SERVERS, alive.label("alive"), sa.func.now().label("now")).order_by(
                SERVERS.c.name
            )
        ).all()
        lease = conn.execute(
            sa.select(
                LEASES.c.holder,
                LEASES.c.epoch,
                LEASES.c.acquired_at,
                (LEASES.c.expires_at > sa.func.now()).label("live"),
            ).where(LEASES.c.name == name)
        ).first()
    out = []
    for row in rows:
        leader = lease is not None and lease[0] == row.instance and bool(lease[3])
        out.append(
            {
                "name": row.name,
                "url": row.url,
                "instance": row.instance,
                "alive": bool(row.alive),
                "startedAt": row.started_at.isoformat(),
                "heartbeatAt": row.heartbeat_at.isoformat(),
                "leader": leader,
                "leaderSince": lease[2].isoformat() if leader and lease is not None else None,
                "epoch": int(lease[1]) if leader and lease is not None else None,
            }
        )
    return out
