"""Migrations on both backends: the same Alembic revisions build a schema equal to
`schema.metadata` (an `alembic check`: no autogenerate diff, types included), go down
to nothing and up again, and move pre-0006 data on PostgreSQL as on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dockyard.store import Kind
from dockyard.store.migrate import upgrade
from dockyard.store.schema import metadata
from dockyard.store.sql import open_store
from tests.store.conftest import empty_database

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/old"
INSTANCE = "arn:aws:ecs:us-east-1:000000000000:container-instance/old/1"


def _diff(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    from dockyard.store.migrate import alembic_config

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_head_matches_the_schema_module(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    store = open_store(empty_database(request, tmp_path, backend))
    try:
        assert _diff(store.engine) == []
        if backend == "postgresql":  # documents are JSONB there
            with store.engine.connect() as conn:
                types = set(conn.exec_driver_sql(
                    "SELECT data_type FROM information_schema.columns WHERE column_name = 'doc'"
                ).scalars())  # fmt: skip
            assert types == {"jsonb"}
    finally:
        store.close()


def test_down_to_base_and_up_again(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    store = open_store(empty_database(request, tmp_path, backend))
    try:
        _downgrade(store.engine, "base")
        assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
        upgrade(store.engine)
        assert _diff(store.engine) == []
    finally:
        store.close()


def _old_instance() -> dict[str, Any]:
    def integer(name: str, value: int) -> dict[str, Any]:
        return {"name": name, "type": "INTEGER", "integerValue": value}

    def ports(name: str, values: list[int]) -> dict[str, Any]:
        return {"name": name, "type": "STRINGSET", "stringSetValue": [str(p) for p in values]}

    registered = [integer("CPU", 2048), integer("MEMORY", 4096), ports("PORTS", [22])]
    remaining = [integer("CPU", 1792), integer("MEMORY", 3584), ports("PORTS", [22, 8080])]
    return {
        "containerInstanceArn": INSTANCE, "status": "ACTIVE", "runningTasksCount": 1,
        "pendingTasksCount": 0, "registeredResources": registered,
        "remainingResources": remaining, "taskGroups": {"family:web": 1},
        "pendingDynamicPorts": {"tcp": 1, "udp": 0},
    }  # fmt: skip


def test_migration_0006_moves_capacity_on_both_backends(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    store = open_store(empty_database(request, tmp_path, backend), migrate=False)
    try:
        upgrade(store.engine, "0005")
        with store.transaction() as tx:
            tx.insert(Kind.CONTAINER_INSTANCE, INSTANCE, _old_instance(), cluster=CLUSTER,
                      instance_id="i-0123", status="ACTIVE")  # fmt: skip
        upgrade(store.engine)
        with store.read() as tx:
            doc = tx.get(Kind.CONTAINER_INSTANCE, INSTANCE)
            capacity = tx.get_row(Kind.INSTANCE_CAPACITY, INSTANCE)
        assert doc is not None and "remainingResources" not in doc and "taskGroups" not in doc
        assert doc["registeredResources"] == _old_instance()["registeredResources"]
        assert capacity is not None
        assert (capacity["remaining_cpu"], capacity["remaining_memory"]) == (1792, 3584)
        assert capacity["doc"]["usedTcp"] == [8080] and capacity["doc"]["pendingTcp"] == 1
        assert capacity["doc"]["taskGroups"] == {"family:web": 1}
    finally:
        store.close()


def test_migration_0007_stamps_stopped_tasks_on_both_backends(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    store = open_store(empty_database(request, tmp_path, backend), migrate=False)
    try:
        upgrade(store.engine, "0006")
        columns = {
            "cluster": "c", "instance": None, "family": "f", "started_by": None,
            "task_group": "family:f", "desired_status": "STOPPED", "reservation": {},
        }  # fmt: skip
        with store.transaction() as tx:
            tx.insert(
                Kind.TASK, "t1", {"stoppedAt": 1700000000.5}, last_status="STOPPED", **columns
            )
            tx.insert(Kind.TASK, "t2", {}, last_status="RUNNING", **columns)
        upgrade(store.engine)
        with store.read() as tx:
            stamped = {r["arn"]: r["stopped_at"] for r in tx.find_rows(Kind.TASK)}
        assert stamped == {"t1": 1700000000.5, "t2": 0.0}
    finally:
        store.close()
