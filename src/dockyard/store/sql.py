"""SQLAlchemy Core backend: SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3).

Durability: SQLite runs in WAL mode with synchronous=NORMAL, which survives a
`kill -9` of the server (a process crash never loses a committed transaction;
only an OS crash could lose the last ones) - every acknowledged API call has
committed before its response is written. `DOCKYARD_SQLITE_SYNC=FULL` trades
speed for power-loss safety. PostgreSQL commits durably by its own settings.

Concurrency: one writer at a time on both backends. SQLite's `BEGIN IMMEDIATE`
takes its database write lock; on PostgreSQL every write transaction first takes a
transaction-scoped advisory lock (`pg_advisory_xact_lock(WRITE_LOCK)`), so writers
run one after the other and each sees every earlier commit (READ COMMITTED after
the lock is as good as SERIALIZABLE for them: no serialization failures, no retry
loop). Read transactions (`read()`) are REPEATABLE READ READ ONLY snapshots, as a
SQLite read transaction is. See store/README.md.

Several servers on one PostgreSQL (dockyard.ha): a write transaction made under `FENCE`
(the leader's controllers) first checks the controllers' lease (`SqlTx.fence`); with a
`writer_id` set, every write transaction reads the write mark (dropping caches another
server made stale: `on_stale`); one that wrote something NOTIFYs `dockyard_changes` at
commit with the kinds it wrote and what they touched (`SqlTx.touched`, store/changes.py).

Threads: on a store whose calls are network round trips (`SqlStore.blocking`:
PostgreSQL) the server runs store work in `SqlStore.executor`, a bounded thread pool
sized below the connection pool (`store/offload.py`). What a write transaction keeps in
process memory (tasks/memory.py) is touched only while the write lock is held: rollback
callbacks run before the ROLLBACK that releases it, and `stale()` from outside a write
transaction takes effect at the start of the next one.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dockyard.store import bulk, schema
from dockyard.store.base import Doc, Kind, Observer
from dockyard.store.changes import Touched, change_payload, touch
from dockyard.store.checkpoint import INTERVAL_S as CHECKPOINT_INTERVAL_S
from dockyard.store.checkpoint import WalCheckpointer
from dockyard.wire import codec

log = logging.getLogger(__name__)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    sync = os.environ.get("DOCKYARD_SQLITE_SYNC", "NORMAL").upper()
    if sync not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        sync = "NORMAL"
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={sync}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # A large store (1,000,000 tasks: ~5 GB) outgrows SQLite's default 2 MB page cache:
    # every lookup then re-reads its index pages with a read() each (bench/README.md:
    # ~38,000 read calls and 150 MB a second during a 5,000-instance scale-up). Pages
    # are mapped instead (shared with the OS page cache) and 64 MiB cached per connection.
    cursor.execute(f"PRAGMA mmap_size={_env_int('DOCKYARD_SQLITE_MMAP_BYTES', 1 << 30)}")
    cursor.execute(f"PRAGMA cache_size=-{_env_int('DOCKYARD_SQLITE_CACHE_KIB', 65536)}")
    cursor.close()
    # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are unreliable).
    dbapi_connection.isolation_level = None


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    """A committing connection never checkpoints (`WalCheckpointer` does)."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# The PostgreSQL advisory lock every write transaction holds until it ends ("dock").
WRITE_LOCK = 0x646F636B

# (holder, epoch) of the controllers' lease the current asyncio task writes under (set by
# dockyard.ha in the leader's controller tasks); None: not fenced (API handlers, agents).
FENCE: ContextVar[tuple[str, int] | None] = ContextVar("dockyard_fence", default=None)
CHANGES_CHANNEL = "dockyard_changes"  # NOTIFY channel; payload: `change_payload`
TAGS = "TAGS"  # what `SqlTx.written` holds for tag writes (no Kind of their own)
CONTROLLERS_LEASE = "controllers"


class FencedOut(RuntimeError):
    """A fenced write found the lease held by someone else (or at another epoch): this
    process is a deposed leader, and the transaction rolls back."""


def _starts_with(
    column: sa.ColumnElement[Any], prefix: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """`column` starts with `prefix`, case-sensitively on both backends (AWS name prefixes
    are; SQLite's LIKE is not): no LIKE wildcards to escape either."""
    head: sa.ColumnElement[str] = sa.func.substr(column, 1, sa.func.length(prefix))
    return head == prefix


@functools.cache
def _get_statement(kind: Kind) -> sa.Select[Any]:
    """Statements are built once and reused: SQLAlchemy then skips rebuilding and
    re-keying them on every call (measured as most of a request's server time)."""
    table = schema.TABLES[kind.value]
    return sa.select(table.c.doc).where(table.c.arn == sa.bindparam("key"))


@functools.cache
def _find_statement(  # noqa: PLR0917 - positional so functools.cache keys on it cheaply
    kind: Kind,
    shape: tuple[tuple[str, bool], ...],
    order_by: tuple[str, ...],
    descending: bool,
    after: int,
    limited: bool,
    prefix_column: str | None,
) -> sa.Select[Any]:
    table = schema.TABLES[kind.value]
    query = sa.select(table.c.doc)
    for name, is_list in shape:
        column = table.c[name]
        if is_list:
            query = query.where(column.in_(sa.bindparam(f"w_{name}", expanding=True)))
        else:
            query = query.where(column == sa.bindparam(f"w_{name}"))
    if prefix_column is not None:
        query = query.where(_starts_with(table.c[prefix_column], sa.bindparam("prefix")))
    columns = [table.c[name] for name in order_by]
    if after:
        key = sa.tuple_(*columns)
        bound = sa.tuple_(*[sa.bindparam(f"after_{i}") for i in range(after)])
        query = query.where(key < bound if descending else key > bound)
    query = query.order_by(*[c.desc() if descending else c.asc() for c in columns])
    if limited:
        query = query.limit(sa.bindparam("limit"))
    return query


@functools.cache
def _count_statement(kind: Kind, shape: tuple[tuple[str, bool], ...]) -> sa.Select[Any]:
    """COUNT(*) over indexed columns, built once per shape like `_find_statement`
    (DescribeServices counts per deployment: building each one cost ~2 ms)."""
    table = schema.TABLES[kind.value]
    query = sa.select(sa.func.count()).select_from(table)
    for name, is_list in shape:
        column = table.c[name]
        if is_list:
            query = query.where(column.in_(sa.bindparam(f"w_{name}", expanding=True)))
        else:
            query = query.where(column == sa.bindparam(f"w_{name}"))
    return query


LIST_TYPES = (list, tuple, set, frozenset)


class SqlTx:
    """One transaction on one connection; implements `dockyard.store.base.Tx`."""

    def __init__(self, conn: Connection, store: SqlStore, *, writing: bool = False) -> None:
        self._conn = conn
        self._store = store
        self.writing = writing  # holds the write lock (`transaction()`, not `read()`)
        self._observers = store.observers
        self._on_commit: dict[Hashable, Callable[[], None]] = {}
        self._on_rollback: dict[Hashable, Callable[[], None]] = {}
        self.written: set[str] = set()  # names of the kinds written (Kind.name, TAGS)
        # What the writes touched, for other servers (store/changes.py); None: not shared
        self.touched: Touched | None = None if store.writer_id is None else {}

    @property
    def store(self) -> SqlStore:
        return self._store

    def after_commit(self, callback: Callable[[], None], key: Hashable | None = None) -> None:
        self._on_commit.setdefault(object() if key is None else key, callback)

    def after_rollback(self, callback: Callable[[], None], key: Hashable | None = None) -> None:
        self._on_rollback.setdefault(object() if key is None else key, callback)

    def _finished(self, committed: bool) -> None:
        callbacks = self._on_commit if committed else self._on_rollback
        self._on_commit, self._on_rollback = {}, {}
        for callback in callbacks.values():
            callback()

    def _observe(self, kind: Kind, key: str, doc: Doc | None, columns: Mapping[str, Any]) -> None:
        for observer in self._observers.get(kind, ()):
            observer(self, key, doc, columns)

    @staticmethod
    def _table(kind: Kind) -> sa.Table:
        return schema.TABLES[kind.value]

    def _where(
        self,
        table: sa.Table,
        where: Mapping[str, Any] | None,
        prefix: tuple[str, str] | None = None,
    ) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        for name, value in (where or {}).items():
            column = table.c[name]
            if isinstance(value, list | tuple | set | frozenset):
                clauses.append(column.in_(list(value)))
            else:
                clauses.append(column == value)
        if prefix is not None:
            column_name, text = prefix
            clauses.append(_starts_with(table.c[column_name], sa.literal(text, sa.String)))
        return clauses

    def fence(self, epoch: int, holder: str) -> None:
        """Raise `FencedOut` unless `holder` holds the controllers' lease at `epoch`. The
        lease row stays share-locked until this transaction ends, so the lease cannot change
        hands before this transaction's writes are committed (or rolled back)."""
        t = schema.leases
        query = (
            sa.select(t.c.holder, t.c.epoch)
            .where(t.c.name == CONTROLLERS_LEASE)
            .with_for_update(read=True)
        )
        row = self._conn.execute(query).first()
        if row is None or row[0] != holder or int(row[1]) != epoch:
            found = "no lease" if row is None else f"held by {row[0]} at epoch {row[1]}"
            raise FencedOut(f"lease {CONTROLLERS_LEASE!r} epoch {epoch} of {holder} lost ({found})")

    def get(self, kind: Kind, key: str) -> Doc | None:
        row = self._conn.execute(_get_statement(kind), {"key": key}).first()
        return None if row is None else dict(row[0])

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
        where = where or {}
        shape = tuple((name, isinstance(value, LIST_TYPES)) for name, value in where.items())
        statement = _find_statement(
            kind,
            shape,
            tuple(order_by or ("arn",)),
            descending,
            len(after) if after is not None else 0,
            limit is not None,
            prefix[0] if prefix else None,
        )
        params: dict[str, Any] = {
            f"w_{name}": list(value) if is_list else value
            for (name, is_list), value in zip(shape, where.values(), strict=True)
        }
        for index, value in enumerate(after or ()):
            params[f"after_{index}"] = value
        if limit is not None:
            params["limit"] = limit
        if prefix is not None:
            params["prefix"] = prefix[1]
        return [dict(row[0]) for row in self._conn.execute(statement, params)]

    def count(self, kind: Kind, where: Mapping[str, Any] | None = None) -> int:
        where = where or {}
        shape = tuple((name, isinstance(value, LIST_TYPES)) for name, value in where.items())
        params = {
            f"w_{name}": list(value) if is_list else value
            for (name, is_list), value in zip(shape, where.values(), strict=True)
        }
        return int(self._conn.execute(_count_statement(kind, shape), params).scalar_one())

    def distinct(
        self,
        kind: Kind,
        column: str,
        where: Mapping[str, Any] | None = None,
        prefix: tuple[str, str] | None = None,
    ) -> list[Any]:
        table = self._table(kind)
        query = (
            sa.select(table.c[column])
            .where(*self._where(table, where, prefix))
            .distinct()
            .order_by(table.c[column])
        )
        return [row[0] for row in self._conn.execute(query)]

    def max(self, kind: Kind, column: str, where: Mapping[str, Any] | None = None) -> Any:
        table = self._table(kind)
        query = sa.select(sa.func.max(table.c[column])).where(*self._where(table, where))
        return self._conn.execute(query).scalar_one()

    def insert(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None:
        table = self._table(kind)
        self._conn.execute(sa.insert(table).values(arn=key, doc=doc, **columns))
        self.written.add(kind.name)
        if self.touched is not None:
            touch(self.touched, kind, key, doc)
        if kind in self._observers:
            self._observe(kind, key, doc, columns)

    def update(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None:
        table = self._table(kind)
        self._conn.execute(sa.update(table).where(table.c.arn == key).values(doc=doc, **columns))
        self.written.add(kind.name)
        if self.touched is not None:
            touch(self.touched, kind, key, doc)
        if kind in self._observers:
            self._observe(kind, key, doc, columns)

    def insert_many(self, kind: Kind, rows: Sequence[tuple[str, Doc, Mapping[str, Any]]]) -> None:
        if not rows:
            return
        self._executemany(kind, "insert", rows)
        self.written.add(kind.name)
        if self.touched is not None:
            for key, doc, _ in rows:
                touch(self.touched, kind, key, doc)
        if kind in self._observers:
            for key, doc, columns in rows:
                self._observe(kind, key, doc, columns)

    def update_many(self, kind: Kind, rows: Sequence[tuple[str, Doc, Mapping[str, Any]]]) -> None:
        if not rows:
            return
        self._executemany(kind, "update", rows)
        self.written.add(kind.name)
        if self.touched is not None:
            for key, doc, _ in rows:
                touch(self.touched, kind, key, doc)
        if kind in self._observers:
            for key, doc, columns in rows:
                self._observe(kind, key, doc, columns)

    def _executemany(
        self, kind: Kind, op: str, rows: Sequence[tuple[str, Doc, Mapping[str, Any]]]
    ) -> None:
        """One DBAPI executemany per run of rows with the same columns (store/bulk.py):
        no per-row SQLAlchemy bind processing, each document encoded once."""
        dialect = self._conn.dialect
        for statement, params in bulk.rows_params(dialect, kind.value, op, rows):
            self._conn.exec_driver_sql(statement.sql, params)

    def delete(self, kind: Kind, key: str) -> None:
        table = self._table(kind)
        self._conn.execute(sa.delete(table).where(table.c.arn == key))
        self.written.add(kind.name)
        if self.touched is not None:
            touch(self.touched, kind, key, None)
        if kind in self._observers:
            self._observe(kind, key, None, {})

    def find_keys(
        self,
        kind: Kind,
        where: Mapping[str, Any] | None = None,
        *,
        after: Sequence[Any] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        table = self._table(kind)
        query = sa.select(table.c.arn).where(*self._where(table, where))
        if after:
            query = query.where(table.c.arn > after[0])
        query = query.order_by(table.c.arn)
        if limit is not None:
            query = query.limit(limit)
        return [row[0] for row in self._conn.execute(query)]

    def sum(self, kind: Kind, column: str, where: Mapping[str, Any] | None = None) -> int:
        table = self._table(kind)
        query = sa.select(sa.func.coalesce(sa.func.sum(table.c[column]), 0)).where(
            *self._where(table, where)
        )
        return int(self._conn.execute(query).scalar_one())

    def count_by(
        self, kind: Kind, columns: Sequence[str], where: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        table = self._table(kind)
        grouped = [table.c[c] for c in columns]
        query = (
            sa.select(*grouped, sa.func.count())
            .where(*self._where(table, where))
            .group_by(*grouped)
            .order_by(*grouped)
        )
        return [tuple(row) for row in self._conn.execute(query)]

    def find_raw(self, kind: Kind, where: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(key, document as JSON text) pairs, left undecoded so callers can cache what they
        derive from it (placement reads every instance per call). SQLite stores the text;
        PostgreSQL prints its JSONB (keys reordered, `"key": value` spacing kept)."""
        table = self._table(kind)
        if self._store.sqlite:
            as_text: sa.ColumnElement[str] = sa.type_coerce(table.c.doc, sa.Text)
        else:
            as_text = sa.cast(table.c.doc, sa.Text)
        query = sa.select(table.c.arn, as_text).where(*self._where(table, where))
        return [(row[0], row[1]) for row in self._conn.execute(query)]

    def get_row(self, kind: Kind, key: str) -> dict[str, Any] | None:
        table = self._table(kind)
        row = self._conn.execute(sa.select(table).where(table.c.arn == key)).first()
        return None if row is None else dict(row._mapping)

    def find_rows(self, kind: Kind, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        table = self._table(kind)
        query = sa.select(table).where(*self._where(table, where)).order_by(table.c.arn)
        result = self._conn.execute(query)
        keys = tuple(result.keys())  # once, not a RowMapping per row
        return [dict(zip(keys, row, strict=True)) for row in result]

    def get_tags(self, resource_arn: str) -> list[dict[str, str]]:
        t = schema.tags
        rows = self._conn.execute(
            sa.select(t.c.key, t.c.value).where(t.c.resource_arn == resource_arn).order_by(t.c.key)
        )
        return [{"key": key, "value": value} for key, value in rows]

    def put_tags(self, resource_arn: str, tags: Sequence[Mapping[str, str]]) -> None:
        if not tags:
            return
        t = schema.tags
        self.written.add(TAGS)
        keys = [tag["key"] for tag in tags]
        self._conn.execute(sa.delete(t).where(t.c.resource_arn == resource_arn, t.c.key.in_(keys)))
        self._conn.execute(
            sa.insert(t),
            [
                {"resource_arn": resource_arn, "key": tag["key"], "value": tag.get("value", "")}
                for tag in tags
            ],
        )

    def remove_tags(self, resource_arn: str, keys: Sequence[str]) -> None:
        t = schema.tags
        self._conn.execute(
            sa.delete(t).where(t.c.resource_arn == resource_arn, t.c.key.in_(list(keys)))
        )
        self.written.add(TAGS)

    def delete_all_tags(self, resource_arn: str) -> None:
        t = schema.tags
        self._conn.execute(sa.delete(t).where(t.c.resource_arn == resource_arn))
        self.written.add(TAGS)


# Threads of `SqlStore.executor`: below PostgreSQL's pool (QueuePool 5 + 10 overflow), so
# the elector, the sweep and the rest (asyncio.to_thread) still get a connection.
STORE_THREADS = 10


def _blocking_default(sqlite: bool) -> bool:
    """PostgreSQL: yes. SQLite: no (store/README.md, measured); `DOCKYARD_STORE_THREADS=1`
    (or 0) overrides either, for measurements."""
    forced = os.environ.get("DOCKYARD_STORE_THREADS", "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    return not sqlite


class SqlStore:
    """The SQLAlchemy backend; implements `dockyard.store.base.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.observers: dict[Kind, list[Observer]] = {}
        self.writer_id: str | None = None  # set by dockyard.ha on a shared PostgreSQL
        self._stale: list[Callable[[], None]] = []
        self._stale_pending = False
        self._blocking = _blocking_default(self.sqlite)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self.checkpointer: WalCheckpointer | None = None

    @property
    def blocking(self) -> bool:
        """Whether a call may wait on the network (PostgreSQL): the server then runs store
        work in `executor`, never on its event loop (store/offload.py)."""
        return self._blocking

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The bounded thread pool store work runs in (created on first use)."""
        with self._executor_lock:
            if self._executor is None:
                # SQLite (forced, for measurements): within SingletonThreadPool's 5 connections
                workers = min(STORE_THREADS, 4) if self.sqlite else STORE_THREADS
                self._executor = ThreadPoolExecutor(workers, thread_name_prefix="store")
            return self._executor

    def on_stale(self, callback: Callable[[], None]) -> None:
        """Call `callback` when another server may have written since this process last
        did (caches of the store must then be dropped). Only with a `writer_id`."""
        self._stale.append(callback)

    def stale(self) -> None:
        """Caches are stale: dropped at the start of the next write transaction (under the
        write lock: a write transaction in another thread may be using them now)."""
        self._stale_pending = True

    def _drop_stale(self) -> None:
        """Inside a write transaction: run the `on_stale` callbacks."""
        self._stale_pending = False
        for callback in self._stale:
            callback()

    def _mark_write(self, conn: Connection) -> None:
        """Inside a write transaction (the write lock held): drop caches when the last
        writer was another server process, and make this one the last."""
        row = conn.execute(_MARK_SQL).first()
        if row is not None and row[0] == self.writer_id:
            return
        t = schema.write_marks
        if row is None:  # the first write on this database (seq: unused, NOT NULL in 0013)
            conn.execute(sa.insert(t).values(name="store", writer=self.writer_id, seq=0))
        else:
            conn.execute(sa.update(t).where(t.c.name == "store").values(writer=self.writer_id))
        self._drop_stale()

    def observe(self, kind: Kind, observer: Observer) -> None:
        self.observers.setdefault(kind, []).append(observer)

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        """Commit on success, roll back on any exception (a failed COMMIT included);
        then run the transaction's after_commit callbacks, or its after_rollback ones
        (before the ROLLBACK, while the write lock is still held, when it can)."""
        with self.engine.connect() as conn:
            if self.sqlite:
                _sqlite_begin(conn)
                tx = SqlTx(conn, self, writing=True)
                try:
                    if self._stale_pending:
                        self._drop_stale()
                    yield tx
                    conn.exec_driver_sql("COMMIT")
                except BaseException:
                    tx._finished(committed=False)
                    if _in_transaction(conn):  # a failed COMMIT may have ended it
                        conn.exec_driver_sql("ROLLBACK")
                    raise
            else:
                tx = SqlTx(conn, self, writing=True)
                try:
                    with conn.begin():
                        try:
                            self._begin_write(conn, tx)
                            yield tx
                            if self.writer_id is not None and tx.written:  # sent at commit
                                payload = change_payload(self.writer_id, tx.written, tx.touched)
                                notify = {"channel": CHANGES_CHANNEL, "p": payload}
                                conn.execute(_NOTIFY_SQL, notify)
                        except BaseException:
                            tx._finished(committed=False)  # the lock is still held
                            raise
                except BaseException:
                    tx._finished(committed=False)  # a failed COMMIT (no-op otherwise)
                    raise
        tx._finished(committed=True)

    def _begin_write(self, conn: Connection, tx: SqlTx) -> None:
        """PostgreSQL: the write lock, the fence, the write mark, stale caches dropped."""
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        fence = FENCE.get()
        if fence is not None:
            tx.fence(fence[1], fence[0])
        if self.writer_id is not None:
            self._mark_write(conn)
        if self._stale_pending:
            self._drop_stale()

    @contextmanager
    def read(self) -> Iterator[SqlTx]:
        with self.engine.connect() as conn:
            if self.sqlite:
                conn.exec_driver_sql("BEGIN")
                try:
                    yield SqlTx(conn, self)
                finally:
                    conn.exec_driver_sql("ROLLBACK")
            else:
                # BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: one statement (psycopg's
                # read_only); SQLAlchemy resets both when the connection returns to the pool.
                snapshot = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                with snapshot.begin():
                    yield SqlTx(snapshot, self)

    def migrate(self) -> None:
        from dockyard.store.migrate import upgrade

        upgrade(self.engine)

    def checkpoint_in_background(self, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        """SQLite file: WAL checkpoints in a thread of their own from now on, never in a
        committing connection (store/checkpoint.py). What `dockyard server` runs with."""
        path = self.engine.url.database
        if not self.sqlite or not path or path == ":memory:" or self.checkpointer is not None:
            return
        if interval_s <= 0:
            return  # SQLite's own checkpoints (DOCKYARD_SQLITE_CHECKPOINT_S=0)
        sa.event.listen(self.engine, "connect", _no_autocheckpoint)
        with self.engine.connect() as conn:  # this thread's pooled connection is open already
            _no_autocheckpoint(conn.connection.dbapi_connection, None)
        self.checkpointer = WalCheckpointer(path, interval_s).start()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


_MARK_SQL = sa.text("SELECT writer FROM write_marks WHERE name = 'store'")
_NOTIFY_SQL = sa.text("SELECT pg_notify(:channel, :p)")


def _in_transaction(conn: Connection) -> bool:
    """Whether the SQLite connection still holds a transaction open."""
    dbapi = conn.connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", True))


def _check_postgres(engine: Engine) -> None:
    """Warn when the database does not order text by bytes (as SQLite does): ARN order and
    paging would differ from SQLite's. Create it with `LC_COLLATE 'C'`."""
    with engine.connect() as conn:
        collation = conn.exec_driver_sql(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).scalar_one()
    if collation not in {"C", "POSIX", "C.UTF-8", "C.utf8"}:
        log.warning(
            "PostgreSQL database collation is %s, not C: lists order ARNs by that locale"
            " (create the database with LC_COLLATE 'C' TEMPLATE template0)",
            collation,
        )


def sqlite_url(data_dir: str | os.PathLike[str]) -> str:
    path = Path(data_dir).resolve() / "dockyard.db"
    return f"sqlite:///{path}"


# every JSON column is written and read with the store's codec (bulk.py writes with it too)
_JSON_CODEC = {"json_serializer": codec.dumps, "json_deserializer": codec.loads}


def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """Open (and migrate) the store at a SQLAlchemy URL (`postgresql://` and `postgres://`
    mean psycopg 3, the driver Dockyard installs)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme) :]
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool, **_JSON_CODEC)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, **_JSON_CODEC)
        _check_postgres(engine)
    store = SqlStore(engine)
    if migrate:
        store.migrate()
    return store
