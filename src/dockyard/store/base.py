"""The store interface: transactions over kinds of JSON documents.

A *kind* is one table: a primary key (an ARN), a few indexed columns, and the
document itself (the AWS-shaped dict the API answers with). Handlers open one
transaction per API call, so a request that fails half-way writes nothing.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

Doc = dict[str, Any]
IN_CHUNK = 500  # keys per SELECT ... IN (...) of `in_chunks` (a bounded statement size)


class Kind(enum.Enum):
    """Document kinds and their tables."""

    CLUSTER = "clusters"
    TASK_DEFINITION = "task_definitions"
    CONTAINER_INSTANCE = "container_instances"
    TASK = "tasks"
    SERVICE = "services"
    LOAD_BALANCER = "load_balancers"
    LISTENER = "listeners"
    RULE = "rules"
    TARGET_GROUP = "target_groups"
    TARGET = "targets"
    ALARM = "alarms"
    ALARM_HISTORY = "alarm_history"
    SCALABLE_TARGET = "scalable_targets"
    SCALING_POLICY = "scaling_policies"
    SCHEDULED_ACTION = "scheduled_actions"
    SCALING_ACTIVITY = "scaling_activities"
    # Per container instance: remaining cpu/memory/ports, task counts and groups (the
    # capacity bookkeeping kept apart from the AWS-shaped instance document).
    INSTANCE_CAPACITY = "instance_capacity"
    # ACM certificates (imported): the document without the private key.
    CERTIFICATE = "certificates"
    # Their private keys (migration 0014), one row per certificate ARN: read only by the LB
    # controller, which writes HAProxy's key files (dockyard.acm.keys).
    CERTIFICATE_KEY = "certificate_keys"
    # ECS account settings (migration 0010): one row per (principal, setting name).
    ACCOUNT_SETTING = "account_settings"
    # ECS service deployment history (services/history.py): columns service, status,
    # created_at (deployments) and service, created_at (revisions).
    SERVICE_DEPLOYMENT = "service_deployments"
    SERVICE_REVISION = "service_revisions"
    # ELBv2 trust stores (migration 0009): counts and digests.
    TRUST_STORE = "trust_stores"
    # Their CA bundles and CRLs (migration 0014): key "<trust store ARN>|bundle" or
    # "|revocation-<id>", column trust_store (dockyard.elbv2.trust_store_contents).
    TRUST_STORE_CONTENT = "trust_store_contents"
    # ECS capacity providers (migration 0012): column name, status.
    CAPACITY_PROVIDER = "capacity_providers"


# Called inside the transaction after each insert/update (doc) or delete (None) of a
# kind: process-memory mirrors of the store (tasks.memory) follow writes through it.
Observer = Callable[["Tx", str, "Doc | None", Mapping[str, Any]], None]


class Tx(Protocol):
    """One transaction. Every method runs inside it; nothing is visible until commit."""

    @property
    def store(self) -> Store:
        """The store this transaction belongs to."""
        ...

    @property
    def writing(self) -> bool:
        """Whether this transaction holds the write lock (`transaction()`, not `read()`)."""
        ...

    def after_commit(self, callback: Callable[[], None], key: Hashable | None = None) -> None:
        """Run `callback` once the transaction has committed (dropped on rollback);
        with a `key`, only the first callback registered under it."""
        ...

    def after_rollback(self, callback: Callable[[], None], key: Hashable | None = None) -> None:
        """Run `callback` if the transaction rolls back (dropped on commit)."""
        ...

    def find_keys(
        self,
        kind: Kind,
        where: Mapping[str, Any] | None = None,
        *,
        after: Sequence[Any] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Primary keys of matching rows in key order, without reading documents."""
        ...

    def sum(self, kind: Kind, column: str, where: Mapping[str, Any] | None = None) -> int: ...

    def count_by(
        self, kind: Kind, columns: Sequence[str], where: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """(value of each column..., number of rows) per distinct combination (GROUP BY)."""
        ...

    def get(self, kind: Kind, key: str) -> Doc | None: ...

    def find(
        self,
        kind: Kind,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        descending: bool = False,
        after: Sequence[Any] | None = None,
        limit: int | None = None,
        prefix: tuple[str, str] | None = None,
    ) -> list[Doc]:
        """Documents whose indexed columns equal `where` (a list value means IN)."""
        ...

    def count(self, kind: Kind, where: Mapping[str, Any] | None = None) -> int: ...

    def distinct(
        self,
        kind: Kind,
        column: str,
        where: Mapping[str, Any] | None = None,
        prefix: tuple[str, str] | None = None,
    ) -> list[Any]: ...

    def max(self, kind: Kind, column: str, where: Mapping[str, Any] | None = None) -> Any: ...

    def insert(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None: ...

    def update(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None: ...

    def insert_many(self, kind: Kind, rows: Sequence[tuple[str, Doc, Mapping[str, Any]]]) -> None:
        """Insert (key, doc, columns) rows in one statement (every row names the same
        columns): what `insert` does row by row, without the per-statement cost."""
        ...

    def update_many(self, kind: Kind, rows: Sequence[tuple[str, Doc, Mapping[str, Any]]]) -> None:
        """Update (key, doc, columns) rows in one statement (every row names the same
        columns): what `update` does row by row, without the per-statement cost."""
        ...

    def delete(self, kind: Kind, key: str) -> None: ...

    def find_raw(self, kind: Kind, where: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(key, stored document) pairs, undecoded (JSON text where the backend keeps text)."""
        ...

    def get_row(self, kind: Kind, key: str) -> dict[str, Any] | None:
        """Every column of a row (the document under "doc")."""
        ...

    def find_rows(self, kind: Kind, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every column of matching rows, ordered by key."""
        ...

    def fence(self, epoch: int, holder: str) -> None:
        """Refuse (`FencedOut`) unless `holder` holds the controllers' lease at `epoch`
        (dockyard.ha: a deposed leader writes nothing)."""
        ...

    def get_tags(self, resource_arn: str) -> list[dict[str, str]]: ...

    def put_tags(self, resource_arn: str, tags: Sequence[Mapping[str, str]]) -> None: ...

    def remove_tags(self, resource_arn: str, keys: Sequence[str]) -> None: ...

    def delete_all_tags(self, resource_arn: str) -> None: ...


class Store(Protocol):
    """A backend: opens transactions and migrates its schema."""

    @property
    def blocking(self) -> bool:
        """Whether its calls are network round trips (PostgreSQL): the server then runs
        store work in `executor`, off its event loop (store/offload.py)."""
        ...

    @property
    def executor(self) -> Executor:
        """The bounded thread pool for store work when `blocking`."""
        ...

    def observe(self, kind: Kind, observer: Observer) -> None:
        """Call `observer` on every write of `kind` from now on."""
        ...

    def on_stale(self, callback: Callable[[], None]) -> None:
        """Call `callback` when another server may have written (caches are stale)."""
        ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction (may be served by a replica later)."""
        ...

    def close(self) -> None: ...


T = TypeVar("T")


def in_chunks(
    keys: Iterable[str], read: Callable[[list[str]], Iterable[T]], size: int = IN_CHUNK
) -> list[T]:
    """What `read` returns for the keys (deduplicated, sorted), `size` keys per call:
    one `SELECT ... IN` per chunk, e.g. `in_chunks(arns, lambda c: tx.find(kind, {"arn": c}))`
    (any `Tx` read that takes a list value as IN)."""
    ordered = sorted(set(keys))
    out: list[T] = []
    for i in range(0, len(ordered), size):
        out += read(ordered[i : i + size])
    return out


class Kept(Protocol):
    """An in-memory structure kept in step with one store by its writes of one kind."""

    def observe_write(self, tx: Tx, key: str, doc: Doc | None, columns: Mapping[str, Any]) -> None:
        """A document of the kind was written (doc) or deleted (None) in `tx`."""
        ...

    def reset(self) -> None:
        """Another server may have written: forget everything (reload on use)."""
        ...


K = TypeVar("K", bound=Kept)


def shares_memory(tx: Tx) -> bool:
    """Whether `tx` may use a `PerStore` structure: a write transaction (the write lock
    held, so no other writer is mid-change), or any transaction when every transaction
    runs on one thread (a non-blocking store: SQLite on the event loop). A read beside
    writers in other threads (PostgreSQL) reads the store instead."""
    return tx.writing or not tx.store.blocking


class PerStore(Generic[K]):
    """One `K` per store, made on first use and subscribed then to the store's writes
    of `kind` and to its staleness (tasks.memory, tasks.live). Only transactions for
    which `shares_memory` holds may use it."""

    def __init__(self, kind: Kind, make: Callable[[], K]) -> None:
        self.kind = kind
        self.make = make
        self._made: weakref.WeakKeyDictionary[Store, K] = weakref.WeakKeyDictionary()

    def of(self, tx: Tx) -> K:
        store = tx.store
        kept = self._made.get(store)
        if kept is None:
            kept = self.make()
            store.observe(self.kind, kept.observe_write)
            store.on_stale(kept.reset)  # another server wrote (dockyard.ha): reload on use
            self._made[store] = kept
        return kept
