"""Durable state of the control plane.

`Store` is the interface every backend implements; `open_store(url)` picks one.
Today the one backend is SQLAlchemy Core (`sql.py`), which serves SQLite (the
embedded default, WAL) and is written to serve PostgreSQL unchanged later.
State is kept as JSON documents (the AWS shapes the API returns) next to the
indexed columns that queries need; see `schema.py`.
"""

from dockyard.store.base import Kind, Store, Tx
from dockyard.store.sql import SqlStore, open_store

__all__ = ["Kind", "SqlStore", "Store", "Tx", "open_store"]
