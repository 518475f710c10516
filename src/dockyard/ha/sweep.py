"""The leader's sweep of agents left behind by a dead server.

An agent's websocket lives on one server; that server writes `agentConnected` and
`agentServer` (its name) into the instance document. When a server dies (kill -9) nobody
clears them, so the leader marks disconnected (since now) the instances whose `agentServer`
has no live heartbeat: the agents reconnect to another server within seconds, or the
instance controller's grace period runs from here. One read of the live instances gives
both the orphans and, when asked (`reseed`), the disconnected-since map the leader's `Away`
is reseeded from (agents that left other servers). Pure parts: `plan_orphans`, `away_since`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.store import Kind
from dockyard.store.sql import SqlStore
from dockyard.wire import codec

LIVE = ["ACTIVE", "DRAINING"]


@dataclass(frozen=True)
class Swept:
    marked: list[str]  # instances marked disconnected at `at`
    at: float
    since: dict[str, float] | None  # {instance: disconnectedAt} of every away agent; None:
    # not reseeded this time


def plan_orphans(docs: Iterable[Mapping[str, Any]], alive: set[str]) -> list[str]:
    """Instances shown connected to a server that is not alive."""
    return [
        str(doc["containerInstanceArn"])
        for doc in docs
        if doc.get("agentConnected") and doc.get("agentServer") not in (None, *alive)
    ]


def away_since(docs: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{instance: disconnectedAt} of the instances whose agent is away (as
    controllers/instances.py `disconnected_since` reads the store)."""
    return {
        str(doc["containerInstanceArn"]): float(doc["disconnectedAt"])
        for doc in docs
        if not doc.get("agentConnected") and doc.get("disconnectedAt") is not None
    }


def _decode(raw: Any) -> dict[str, Any]:
    return codec.loads(raw) if isinstance(raw, str) else dict(raw)


def sweep(store: SqlStore, alive: set[str], now: float, *, reseed: bool) -> Swept:
    """Mark the orphaned instances disconnected (blocking: run it in a thread)."""
    with store.read() as tx:
        docs = [
            _decode(raw) for _arn, raw in tx.find_raw(Kind.CONTAINER_INSTANCE, {"status": LIVE})
        ]
    planned = plan_orphans(docs, alive)
    since = away_since(docs) if reseed else None
    marked: list[str] = []
    if not planned:
        return Swept(marked, now, since)
    with store.transaction() as tx:  # re-read under the write lock: the agent may be back
        for arn in planned:
            doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
            if doc is None or doc.get("status") not in LIVE or not plan_orphans([doc], alive):
                continue
            doc["agentConnected"] = False
            doc["disconnectedAt"] = now
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
            marked.append(arn)
    return Swept(marked, now, since)
