"""Three `dockyard server`s on one throwaway PostgreSQL (dockyard.ha): one leader runs the
controllers, `dockyard status` shows it; a simulated host (the agent's in-memory runtime)
given every server's endpoint; a service of 4 tasks. `kill -9` of the leader in the middle
of a rolling update: another server leads, the rollout completes with 4 RUNNING tasks, the
write acknowledged just before the kill is there. Then the new leader is paused (SIGSTOP)
past its lease and resumed: a third server leads, and exactly one leader remains.

Not here (see ha/README.md): real Docker containers and HAProxy under load.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.testing.postgres import PostgresCluster, throwaway_postgres
from tests.e2e.conftest import AgentProcess, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

TTL = "2"  # --lease-ttl: seconds


def web(revision_env: str) -> dict[str, Any]:
    return {
        "family": "web",
        "containerDefinitions": [
            {"name": "web", "image": "x", "memory": 64,
             "environment": [{"name": "V", "value": revision_env}],
             "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture
def servers(postgres: PostgresCluster, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    url = postgres.create_database("ha")
    procs = [
        ServerProcess(tmp_path / f"data{i}", extra_args=[
            "--store-url", url, "--lease-ttl", TTL, "--name", f"s{i}", "--agent-grace", "120",
            "--lb-dir", str(tmp_path / "lb")])
        for i in range(3)
    ]  # fmt: skip
    try:
        for proc in procs:
            proc.start(timeout=60)
        yield procs
    finally:
        for proc in procs:
            if proc.proc is not None and proc.proc.poll() is None:
                os.kill(proc.proc.pid, signal.SIGCONT)
            proc.stop()


def status(endpoint: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "dockyard", "--endpoint", endpoint, "-o", "json", "status"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    servers: list[dict[str, Any]] = json.loads(out.stdout)["servers"]
    return servers


def leader_of(endpoint: str) -> str | None:
    leaders = [s["name"] for s in status(endpoint) if s["leader"]]
    assert len(leaders) <= 1, leaders
    return leaders[0] if leaders else None


def running(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster="stage01", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster="stage01", tasks=arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def rolled_out(ecs: Any, revision: str) -> bool:
    service = ecs.describe_services(cluster="stage01", services=["svc"])["services"][0]
    tasks = running(ecs)
    return (
        len(service["deployments"]) == 1
        and service["runningCount"] == 4
        and len(tasks) == 4
        and all(t["taskDefinitionArn"].endswith(f":{revision}") for t in tasks)
    )


def test_leader_killed_mid_rollout_and_a_paused_leader_deposed(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    by_name = {f"s{i}": proc for i, proc in enumerate(servers)}
    rows = wait_for(lambda: leader_of(servers[0].endpoint) and status(servers[0].endpoint),
                    timeout=60, what="a leader")  # fmt: skip
    assert {row["name"] for row in rows} == set(by_name) and all(row["alive"] for row in rows)
    leader = str(leader_of(servers[0].endpoint))
    followers = [p for name, p in by_name.items() if name != leader]
    ecs = followers[0].client()  # clients can use any server
    ecs.create_cluster(clusterName="stage01")
    for revision in ("1", "2"):
        ecs.register_task_definition(**web(revision))
    endpoints = [p.endpoint for p in servers]
    agent = AgentProcess(endpoints[0], tmp_path / "agent", "127.0.1.1", cpu=4096, memory=4096,
                         extra_args=["--fake-runtime", *[
                             arg for e in endpoints[1:] for arg in ("--endpoint", e)]])  # fmt: skip
    agent.start(timeout=60)
    try:
        ecs.create_service(cluster="stage01", serviceName="svc", taskDefinition="web:1",
                           desiredCount=4)  # fmt: skip
        wait_for(lambda: rolled_out(ecs, "1"), timeout=90, what="4 tasks of web:1")

        # A rolling update, then kill -9 of the leader in its middle.
        ecs.update_service(cluster="stage01", service="svc", taskDefinition="web:2")
        wait_for(lambda: any(t["taskDefinitionArn"].endswith(":2") for t in running(ecs)),
                 timeout=60, what="the rollout under way")  # fmt: skip
        acked = ecs.create_cluster(clusterName="acked")["cluster"]["clusterArn"]  # on a follower
        by_name[leader].kill9()
        killed_at = time.monotonic()
        survivor = followers[0].endpoint
        new_leader = wait_for(lambda: leader_of(survivor) not in (None, leader)
                              and leader_of(survivor), timeout=60, what="a new leader")  # fmt: skip
        took = time.monotonic() - killed_at
        print(f"new leader {new_leader} after {took:.1f} s")
        assert took < 10  # the bar (the lease TTL here is 2 s, renewed every 0.4 s)
        wait_for(lambda: rolled_out(ecs, "2"), timeout=120, what="the rollout completed")
        assert ecs.describe_clusters(clusters=[acked])["clusters"][0]["status"] == "ACTIVE"

        # Pause the new leader past its lease: the third server takes over.
        paused = by_name[str(new_leader)]
        third = next(p for name, p in by_name.items() if name not in (leader, new_leader))
        assert paused.proc is not None
        os.kill(paused.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: leader_of(third.endpoint) == next(
                n for n, p in by_name.items() if p is third), timeout=60, what="third leads")  # fmt: skip
        finally:
            os.kill(paused.proc.pid, signal.SIGCONT)
        time.sleep(3)  # the resumed process notices it lost the lease
        assert leader_of(third.endpoint) != new_leader
        log = paused.log_path.read_text() if paused.log_path else ""
        assert "is no longer the leader" in log
        wait_for(lambda: rolled_out(ecs, "2"), timeout=60, what="still 4 tasks of web:2")
        assert len(running(ecs)) == 4
    finally:
        agent.stop()
