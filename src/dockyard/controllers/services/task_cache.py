"""Decoded live-task documents of the services being stepped, reused while their JSON
text in the store is unchanged.

A service step reads all the live tasks of its service (reads.task_rows). Decoding
them was a quarter of the server's CPU during a scale-up (bench/README.md, issue 9):
a converging 1,000-task service is stepped every half second or so, and each step
decoded every document again although only the few tasks that moved had changed.
The store hands out the JSON text undecoded (`Tx.find_raw`); a document is decoded
only when its text differs from the one decoded last time for that task (compared by
the text's 64-bit hash, so the text itself is not kept).

Safety: the documents handed out are shared between steps, so callers must treat them
as read-only (the reconcile path does: changes go through `tasks.reports`, which
loads its own copy). A rolled-back transaction clears the cache, so a document changed
in place by a step that failed is never served again. Memory is bounded: at most
MAX_DOCS documents, the services stepped longest ago evicted first.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from dockyard.store import Kind, Store, Tx

MAX_DOCS = 50_000  # ~5 KB each decoded: ~250 MB at most


class LiveTaskCache:
    def __init__(self, max_docs: int = MAX_DOCS) -> None:
        self.max_docs = max_docs
        self._services: OrderedDict[str, dict[str, tuple[int, dict[str, Any]]]] = OrderedDict()
        self._size = 0
        self.decoded = 0  # documents decoded (the rest came from the cache)
        self.reused = 0

    def read(self, tx: Tx, service_arn: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The tasks matching `where` (a service's live tasks), ordered by ARN."""
        tx.after_rollback(self.clear, key=("live-task-cache", id(self)))
        old = self._services.pop(service_arn, {})
        self._size -= len(old)
        fresh: dict[str, tuple[int, dict[str, Any]]] = {}
        out = []
        for arn, raw in sorted(tx.find_raw(Kind.TASK, where)):
            key = hash(raw)  # the text itself is not kept: its hash stands for it
            hit = old.get(arn)
            if hit is not None and hit[0] == key:
                doc = hit[1]
                self.reused += 1
            else:
                doc = json.loads(raw)
                self.decoded += 1
            fresh[arn] = (key, doc)
            out.append(doc)
        self._services[service_arn] = fresh
        self._size += len(fresh)
        while self._size > self.max_docs and len(self._services) > 1:
            _, evicted = self._services.popitem(last=False)
            self._size -= len(evicted)
        return out

    def clear(self) -> None:
        self._services.clear()
        self._size = 0


_CACHES: weakref.WeakKeyDictionary[Store, LiveTaskCache] = weakref.WeakKeyDictionary()


def cache_of(tx: Tx) -> LiveTaskCache:
    """The cache of the transaction's store (one per store, for the life of the process)."""
    cache = _CACHES.get(tx.store)
    if cache is None:
        cache = _CACHES[tx.store] = LiveTaskCache()
    return cache
