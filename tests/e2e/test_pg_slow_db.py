"""A slow PostgreSQL slows requests, never the event loop (issue 13, item 1).

A real `dockyard server --store-url postgresql+psycopg://...` on a throwaway cluster, a
simulated host (the agent's in-memory runtime) connected over its websocket. The test
takes the store's write lock from a connection of its own (`pg_advisory_lock(WRITE_LOCK)`,
store/sql.py) and holds it; a CreateCluster sent meanwhile waits for it. While the lock is
still held, /health and ListClusters answer, and the agent stays connected through more
than one heartbeat interval (its ping must be answered: wire/agent.py HEARTBEAT_S).
Then the lock is released and the CreateCluster completes.

Before the handlers ran off the event loop, the waiting CreateCluster held the loop:
/health and ListClusters got no answer until the lock was released (the test waits for
them before releasing, so it fails on their timeouts) and the agent's heartbeat timed out.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.config import Config

from dockyard.store.sql import WRITE_LOCK
from dockyard.testing.postgres import PostgresCluster, throwaway_postgres
from dockyard.wire.agent import HEARTBEAT_S
from tests.e2e.conftest import AgentProcess, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

ANSWER_S = 30.0  # what a call may take while the lock is held (generous: shared CPUs)
NO_RETRIES = Config(retries={"max_attempts": 1}, read_timeout=ANSWER_S, connect_timeout=10)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> str:
    return postgres.create_database("slow")


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", extra_args=["--store-url", pg_url])
    proc.start(timeout=60)
    yield proc
    proc.stop()


def _waiters(lock_conn: psycopg.Connection[Any]) -> int:
    """Sessions waiting for the write lock (the advisory lock's key fits in objid)."""
    row = lock_conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"
        " AND objid = %s AND NOT granted",
        (WRITE_LOCK,),
    ).fetchone()
    return int(row[0]) if row else 0


def _connected(ecs: Any, arn: str) -> bool:
    found = ecs.describe_container_instances(cluster="stage01", containerInstances=[arn])
    return bool(found["containerInstances"][0]["agentConnected"])


def test_a_held_write_lock_slows_writes_only(
    pg_server: ServerProcess, pg_url: str, tmp_path: Path
) -> None:
    ecs = pg_server.client(config=NO_RETRIES)
    ecs.create_cluster(clusterName="stage01")
    agent = AgentProcess(pg_server.endpoint, tmp_path / "agent", "127.0.1.1",
                         extra_args=["--fake-runtime"])  # fmt: skip
    agent.start(timeout=60)
    try:
        wait_for(lambda: _connected(ecs, agent.instance_arn), timeout=60, what="agent connected")
        connects = agent.log().count("connected to ")
        assert connects >= 1, agent.log()
        dsn = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, autocommit=True) as lock_conn:
            lock_conn.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
            held_at = time.monotonic()
            created: dict[str, Any] = {}

            def create() -> None:
                client = pg_server.client(config=NO_RETRIES.merge(Config(read_timeout=300)))
                created["answer"] = client.create_cluster(clusterName="slow01")

            writer = threading.Thread(target=create, daemon=True)
            writer.start()
            try:
                wait_for(lambda: _waiters(lock_conn) > 0, timeout=60, what="a write waiting")
                assert writer.is_alive()  # CreateCluster waits for the lock

                with urllib.request.urlopen(pg_server.endpoint + "/health", timeout=ANSWER_S) as r:
                    assert r.status == 200
                names = [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]]
                assert names == ["stage01"]  # the read answers; the write has not landed
                # Hold on past an agent heartbeat: its ping is answered by the server's loop.
                while time.monotonic() - held_at < HEARTBEAT_S * 1.6:
                    time.sleep(0.5)
                    assert writer.is_alive()
                assert _connected(ecs, agent.instance_arn)
                assert writer.is_alive()  # still waiting: every answer above came first
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
        writer.join(timeout=120)
        assert not writer.is_alive()
        assert created["answer"]["cluster"]["clusterName"] == "slow01"
        after = {a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]}
        assert after == {"stage01", "slow01"}
        assert _connected(ecs, agent.instance_arn)
        log = agent.log()
        assert log.count("connected to ") == connects, log  # no reconnect
        assert "server closed the connection" not in log, log
    finally:
        agent.stop()
