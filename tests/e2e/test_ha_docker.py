"""Failover on real Docker and HAProxy under load (issue 13's bar): three `dockyard server`s
on one throwaway PostgreSQL (lease TTL 2 s, one shared --lb-dir), two Docker agents on
127.0.1.1 and 127.0.1.2 each given every server's endpoint, the walkthrough's `auth`
service (4 tasks of dockyard-demo/auth:1) behind an application load balancer. Under a
bounded GET load through the listener, UpdateService to auth:2, and `kill -9` of the
leader while old and new tasks both run. Then: a new leader within 10 s, the rollout
completes (one PRIMARY deployment, 4 RUNNING tasks of the new revision), Docker runs
exactly those tasks' containers, and no request through the load balancer failed.

The same scenario on the fake runtime (no HAProxy, plus a SIGSTOP-ed leader) is
test_ha_failover.py; `dockyard up --ha` is tested in test_up_ha.py. The new leader adopts
the HAProxy master the killed one started (same pid: reloaded, never restarted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.testing.postgres import PostgresCluster, throwaway_postgres
from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    remove_task_containers,
    stop_haproxy,
    wait_for,
)
from tests.e2e.lb_stack import WALKTHROUGH, Load, Stack, failed, summary

pytestmark = pytest.mark.e2e

TTL = "2"  # --lease-ttl (seconds): renewed every 0.4 s
DESIRED = 4
FAILOVER_BAR_S = 10.0  # the bar for a new leader after kill -9


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


def servers_of(endpoint: str) -> list[dict[str, Any]]:
    """GET /dockyard/servers (what `dockyard status` shows); [] when it does not answer."""
    try:
        with urllib.request.urlopen(endpoint + "/dockyard/servers", timeout=5) as answer:
            servers: list[dict[str, Any]] = json.loads(answer.read())["servers"]
    except OSError:
        return []
    return servers


def leader_of(endpoint: str) -> str | None:
    leaders = [s["name"] for s in servers_of(endpoint) if s["leader"]]
    assert len(leaders) <= 1, leaders
    return leaders[0] if leaders else None


def status_table(endpoint: str) -> str:
    """`dockyard status` as a user sees it."""
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "--endpoint", endpoint, "status"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    return done.stdout


def running_containers(cluster: str) -> list[str]:
    """Task ARNs of the running containers Docker holds for `cluster` (one per container)."""
    client = docker.from_env()
    listed = client.containers.list(
        sparse=True,
        filters={"label": "com.dockyard.task-arn", "status": "running"},
    )
    arns: list[str] = []
    for container in listed:
        labels = container.attrs.get("Labels") or {}
        if cluster in labels.get("com.dockyard.cluster", ""):
            arns.append(labels["com.dockyard.task-arn"])
    return arns


def test_leader_killed_mid_rollout_under_load(
    postgres: PostgresCluster, docker_images: dict[str, str], tmp_path: Path
) -> None:
    assert "dockyard-demo/auth:2" in docker_images
    url = postgres.create_database("ha_docker")
    shared = tmp_path / "shared"  # HAProxy's run dir: shared/haproxy, for every server
    servers = {
        f"s{i}": ServerProcess(tmp_path / f"data{i}", extra_args=[
            "--store-url", url, "--lease-ttl", TTL, "--name", f"s{i}", "--agent-grace", "120",
            "--lb-dir", str(shared / "haproxy")])
        for i in range(3)
    }  # fmt: skip
    cluster = f"hadock-{uuid.uuid4().hex[:8]}"
    agents: list[AgentProcess] = []
    try:
        for proc in servers.values():
            proc.start(timeout=60)
        any_endpoint = servers["s0"].endpoint
        leader = str(wait_for(lambda: leader_of(any_endpoint), timeout=60, what="a leader"))
        follower = next(p for name, p in servers.items() if name != leader)
        stack = Stack(tmp_path, follower, cluster)  # clients can use any server
        stack.ecs.create_cluster(clusterName=cluster)
        # Agent 1 talks to the leader first (it must move when the leader dies), agent 2 to
        # a follower; each knows every endpoint.
        firsts = [servers[leader].endpoint, follower.endpoint]
        for index, first in enumerate(firsts, start=1):
            others = [p.endpoint for p in servers.values() if p.endpoint != first]
            agent = AgentProcess(first, tmp_path / f"agent{index}", f"127.0.1.{index}",
                                 cluster=cluster, extra_args=[
                                     "--stop-timeout", "2s", "--cleanup-wait", "5s",
                                     *[arg for e in others for arg in ("--endpoint", e)]])  # fmt: skip
            agents.append(agent)
            agent.start(timeout=60)
        stack.create_balancer()
        first_td = stack.register(WALKTHROUGH / "auth-taskdef.json")
        stack.create_service(first_td, desired=DESIRED)
        before = stack.wait_settled(DESIRED, timeout=120)
        old_arns = [t["taskArn"] for t in before["tasks"]]
        second_td = stack.register(WALKTHROUGH / "auth-taskdef-v2.json")

        load = Load(stack.lb_host, stack.lb_port, rate=20, threads=4, max_requests=4000,
                    max_seconds=150)  # fmt: skip
        with load:
            time.sleep(1.5)
            stack.ecs.update_service(cluster=cluster, service="auth", taskDefinition=second_td)

            def in_flight() -> bool:
                revisions = {t["taskDefinitionArn"] for t in stack.running()}
                return revisions == {first_td, second_td}

            wait_for(in_flight, timeout=60, interval=0.2, what="old and new tasks both running")
            haproxy_pid = (shared / "haproxy" / "haproxy.pid").read_text().split()[0]
            servers[leader].kill9()
            killed_at = time.monotonic()
            new_leader = wait_for(
                lambda: leader_of(follower.endpoint) not in (None, leader)
                and leader_of(follower.endpoint),
                timeout=60, interval=0.1, what="a new leader",
            )  # fmt: skip
            took = time.monotonic() - killed_at
            print(f"\nkilled leader {leader}; new leader {new_leader} after {took:.1f} s")

            def rolled_out() -> dict[str, Any] | None:
                settled = stack.settled(DESIRED)
                if settled is None:
                    return None
                if {t["taskDefinitionArn"] for t in settled["tasks"]} != {second_td}:
                    return None
                old = stack.ecs.describe_tasks(cluster=cluster, tasks=old_arns)["tasks"]
                if any(t["lastStatus"] != "STOPPED" for t in old):
                    return None  # the old tasks stop when their drain ends
                return settled

            settled = wait_for(rolled_out, timeout=120, interval=0.3, what="rollout completed")
            time.sleep(1.5)
            outcomes = load.stop()

        print(status_table(follower.endpoint))
        # The new leader adopted the running HAProxy (hitless), it did not start another.
        assert (shared / "haproxy" / "haproxy.pid").read_text().split()[0] == haproxy_pid
        bad = [o for o in outcomes if failed(o)]
        print(f"load through the LB: {summary(outcomes)}")
        assert took < FAILOVER_BAR_S, f"new leader after {took:.1f} s"
        deployments = settled["service"]["deployments"]
        assert [(d["status"], d["taskDefinition"], d["runningCount"]) for d in deployments] == [
            ("PRIMARY", second_td, DESIRED)
        ]
        running = {t["taskArn"] for t in settled["tasks"]}
        assert len(running) == DESIRED
        in_docker = running_containers(cluster)
        assert sorted(in_docker) == sorted(running), "Docker runs exactly the RUNNING tasks"
        assert len(outcomes) >= 100, summary(outcomes)  # the load really ran all along
        assert not bad, summary(outcomes)
        assert {o.body for o in outcomes} <= {"auth v1\n", "auth v2\n"}
    finally:
        for agent in agents:
            agent.stop()
        for proc in servers.values():
            proc.stop()
        stop_haproxy(shared)
        remove_task_containers(cluster)
