"""Store fixtures: every contract test runs once on SQLite (a temp dir) and once on a
throwaway PostgreSQL cluster (dockyard.testing.postgres: initdb/pg_ctl, loopback, non-root).

The cluster starts once per session; each PostgreSQL test gets a fresh database copied
from a migrated template (CREATE DATABASE ... TEMPLATE), so no test sees another's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.sql import SqlStore, open_store, sqlite_url
from dockyard.testing.postgres import PostgresCluster, throwaway_postgres

BACKENDS = ["sqlite", "postgresql"]
TEMPLATE = "dockyard_template"
_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresCluster) -> str:
    """A database migrated to head, copied by `store`."""
    open_store(postgres.create_database(TEMPLATE)).close()
    return TEMPLATE


def empty_database(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """The URL of a new, empty database of `backend` (SQLite file or PostgreSQL database)."""
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"t{next(_numbers)}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[SqlStore]:
    """A migrated store on each backend."""
    if backend == "sqlite":
        opened = open_store(sqlite_url(tmp_path))
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        template = request.getfixturevalue("postgres_template")
        opened = open_store(cluster.create_database(f"t{next(_numbers)}", template=template))
    yield opened
    opened.close()
