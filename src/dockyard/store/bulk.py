"""Bulk writes straight to the DBAPI: one SQL text per (dialect, table, column set), rows
encoded once, one `executemany`.

Role: the hot path of `SqlTx.insert_many` / `update_many` (a scale-up step's task
INSERT, an agent-report batch's task UPDATE, the capacity rows of both). Through
SQLAlchemy's `execute(statement, [params...])` every row went through the compiled
statement's per-row bind processing (`_init_compiled`, the JSON type's processor):
about half of a report batch's store time in the issue 9 profile (bench/README.md).
Here the statement text is built once and cached, JSON columns are encoded with
`codec.dumps` (what the engine's JSON type writes too: `open_store` gives it the same
codec, so a document's stored text is the same by either path), other columns go
through their type's own bind processor (None for strings and integers), and
`Connection.exec_driver_sql` hands the rows to the driver's `executemany`.

Dialects: SQLite (qmark `?`) stores the JSON text as is; PostgreSQL (psycopg's `%s`)
casts JSON parameters with `::jsonb`. Neighbour: `sql.py` (the only caller).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from dockyard.store import schema
from dockyard.wire import codec

Encoder = Callable[[Any], Any] | None


@dataclass(frozen=True)
class BulkStatement:
    """A statement's text and, per parameter in order, its column's encoder."""

    sql: str
    columns: tuple[str, ...]  # row parameters in placeholder order ("arn" is the key)
    encoders: tuple[Encoder, ...]

    def params(self, key: str, doc: Any, columns: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, encode in zip(self.columns, self.encoders, strict=True):
            if name == "arn":
                value: Any = key
            elif name == "doc":
                value = doc
            else:
                value = columns[name]
            out.append(value if encode is None else encode(value))  # None too: JSON 'null'
        return tuple(out)


_dumps = codec.dumps  # the engine's json_serializer too (sql.open_store)


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _encoder(column: sa.Column[Any], dialect: Dialect) -> Encoder:
    if _is_json(column):
        return _dumps
    processor: Encoder = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _placeholder(column: sa.Column[Any], dialect: Dialect) -> str:
    if dialect.name == "sqlite":
        return "?"
    return "%s::jsonb" if _is_json(column) else "%s"


@functools.lru_cache(maxsize=512)
def statement(dialect: Dialect, table_name: str, op: str, names: tuple[str, ...]) -> BulkStatement:
    """INSERT (op "insert": arn, doc, then `names`) or UPDATE (op "update": SET doc and
    `names` WHERE arn) of `table_name` for `dialect`, built once per column set."""
    table = schema.TABLES[table_name]
    quote = dialect.identifier_preparer.quote
    if op == "insert":
        order = ("arn", "doc", *names)
        cols = [table.c[n] for n in order]
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in cols)})"
            f" VALUES ({', '.join(_placeholder(c, dialect) for c in cols)})"
        )
    elif op == "update":
        order = ("doc", *names, "arn")
        cols = [table.c[n] for n in order]
        sets = ", ".join(f"{quote(c.name)} = {_placeholder(c, dialect)}" for c in cols[:-1])
        sql = f"UPDATE {quote(table.name)} SET {sets} WHERE arn = {_placeholder(cols[-1], dialect)}"
    else:
        raise ValueError(op)
    return BulkStatement(sql, order, tuple(_encoder(c, dialect) for c in cols))


def rows_params(
    dialect: Dialect,
    table_name: str,
    op: str,
    rows: Sequence[tuple[str, Any, Mapping[str, Any]]],
) -> list[tuple[BulkStatement, list[tuple[Any, ...]]]]:
    """The rows as runs of one column set, each with its statement and encoded parameters,
    in the rows' order (a later write of a key still lands last): usually one run."""
    runs: list[tuple[BulkStatement, list[tuple[Any, ...]]]] = []
    last: tuple[str, ...] | None = None
    for key, doc, columns in rows:
        names = tuple(columns)
        if names != last:
            runs.append((statement(dialect, table_name, op, names), []))
            last = names
        stmt, params = runs[-1]
        params.append(stmt.params(key, doc, columns))
    return runs
