"""The leader's sweep of agents left behind by a dead server.

An agent's websocket lives on one server; that server writes `agentConnected` and
`agentServer` (its name) into the instance document. When a server dies (kill -9) nobody
clears them, so the leader, every pass, marks disconnected (since now) the instances whose
`agentServer` has no live heartbeat: the agents reconnect to another server within seconds,
or the instance controller's grace period runs from here. Pure part: `plan_orphans`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.store import Kind
from dockyard.store.sql import SqlStore

LIVE = ["ACTIVE", "DRAINING"]


def plan_orphans(docs: Iterable[Mapping[str, Any]], alive: set[str]) -> list[str]:
    """Instances shown connected to a server that is not alive."""
    return [
        str(doc["containerInstanceArn"])
        for doc in docs
        if doc.get("agentConnected") and doc.get("agentServer") not in (None, *alive)
    ]


def _decode(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def sweep(store: SqlStore, alive: set[str], now: float) -> list[str]:
    """Mark the orphaned instances disconnected; their ARNs."""
    with store.read() as tx:
        docs = [
            _decode(raw) for _arn, raw in tx.find_raw(Kind.CONTAINER_INSTANCE, {"status": LIVE})
        ]
    if not plan_orphans(docs, alive):
        return []
    marked = []
    with store.transaction() as tx:  # re-read under the write lock: the agent may be back
        for arn in plan_orphans(tx.find(Kind.CONTAINER_INSTANCE, {"status": LIVE}), alive):
            doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
            if doc is None:
                continue
            doc["agentConnected"] = False
            doc["disconnectedAt"] = now
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
            marked.append(arn)
    return marked
