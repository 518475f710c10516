"""Durable state of the control plane.

`Store` is the interface every backend implements; `open_store(url)` picks one.
The one implementation is SQLAlchemy Core (`sql.py`), which serves SQLite (the
embedded default, WAL) and PostgreSQL (psycopg 3, JSONB documents) with the same
code and the same Alembic migrations. State is kept as JSON documents (the AWS
shapes the API returns) next to the indexed columns that queries need; see
`schema.py` and README.md (decisions, what blocks, the contract suite).
"""

from dockyard.store.base import Kind, Store, Tx
from dockyard.store.sql import SqlStore, open_store

__all__ = ["Kind", "SqlStore", "Store", "Tx", "open_store"]
