"""Agents on real Docker: tasks placed, started, reachable, stopped, re-adopted.

Two agents simulate two hosts on 127.0.1.1 and 127.0.1.2 against one server.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import (
    DATA,
    AgentProcess,
    ServerProcess,
    aws_cli,
    remove_task_containers,
    wait_for,
)

pytestmark = pytest.mark.e2e


class Cluster:
    def __init__(self, server: ServerProcess, agents: list[AgentProcess], name: str) -> None:
        self.server, self.agents, self.name = server, agents, name
        self.ecs = server.client()

    def describe(self, arns: list[str]) -> list[dict[str, Any]]:
        return list(self.ecs.describe_tasks(cluster=self.name, tasks=arns)["tasks"])

    def wait_status(self, arns: list[str], status: str, timeout: float = 30) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            tasks = self.describe(arns)
            return tasks if tasks and all(t["lastStatus"] == status for t in tasks) else None

        return list(wait_for(check, timeout, what=f"tasks {status}"))

    def instances(self) -> list[dict[str, Any]]:
        arns = self.ecs.list_container_instances(cluster=self.name)["containerInstanceArns"]
        return list(self.ecs.describe_container_instances(cluster=self.name, containerInstances=arns)["containerInstances"])

    def register(self, family: str, **changes: Any) -> str:
        doc = json.loads((DATA / "web-taskdef.json").read_text())
        doc["family"] = family
        for key, value in changes.items():
            doc["containerDefinitions"][0][key] = value
        return str(self.ecs.register_task_definition(**doc)["taskDefinition"]["taskDefinitionArn"])


@pytest.fixture
def cluster(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Cluster]:
    name = f"stage-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server", extra_args=["--agent-grace", "4"])
    server.start()
    server.client().create_cluster(clusterName=name)
    agents = [
        AgentProcess(server.endpoint, tmp_path / f"agent{i}", f"127.0.1.{i}", cluster=name,
                     extra_args=["--stop-timeout", "3s", "--cleanup-wait", "2s",
                                 "--availability-zone", f"az-{i}"])
        for i in (1, 2)
    ]
    for agent in agents:
        agent.start()
    try:
        yield Cluster(server, agents, name)
    finally:
        for agent in agents:
            agent.stop()
        server.stop()
        remove_task_containers(name)


def http_get(bind_ip: str, port: int, path: str = "/cgi-bin/env") -> str:
    with urllib.request.urlopen(f"http://{bind_ip}:{port}{path}", timeout=5) as answer:
        return str(answer.read().decode())


def test_agents_join_and_run_tasks_on_dynamic_ports(cluster: Cluster) -> None:
    described = aws_cli(cluster.server.endpoint, "ecs", "describe-clusters", "--clusters", cluster.name)
    assert json.loads(described.stdout)["clusters"][0]["registeredContainerInstancesCount"] == 2
    instances = cluster.instances()
    assert {i["attributes"][0]["name"] for i in instances} and all(i["agentConnected"] for i in instances)
    for instance in instances:
        registered = {r["name"]: r for r in instance["registeredResources"]}
        assert registered["CPU"]["integerValue"] == 2048
        assert registered["MEMORY"]["integerValue"] == 2048

    cluster.register("web")
    ran = aws_cli(cluster.server.endpoint, "ecs", "run-task", "--cluster", cluster.name,
                  "--task-definition", "web", "--count", "4")
    assert ran.returncode == 0, ran.stderr
    arns = [t["taskArn"] for t in json.loads(ran.stdout)["tasks"]]
    assert len(arns) == 4
    tasks = cluster.wait_status(arns, "RUNNING")
    bindings = set()
    for task in tasks:
        web = next(c for c in task["containers"] if c["name"] == "web")
        binding = web["networkBindings"][0]
        assert binding["containerPort"] == 8080 and binding["protocol"] == "tcp"
        assert 49153 <= binding["hostPort"] <= 65535
        bindings.add((binding["bindIP"], binding["hostPort"]))
        page = http_get(binding["bindIP"], binding["hostPort"])
        assert f"DOCKYARD_TASK_ARN={task['taskArn']}" in page
        assert "GREETING=hello" in page
    assert len(bindings) == 4
    assert {ip for ip, _ in bindings} <= {"127.0.1.1", "127.0.1.2"}
    # Remaining resources match what was placed: 96 MiB (64 + 32 reserved) per task.
    instances = cluster.instances()
    used = sum(2048 - next(r["integerValue"] for r in i["remainingResources"] if r["name"] == "MEMORY") for i in instances)
    assert used == 4 * 96
    running = sum(i["runningTasksCount"] for i in instances)
    assert running == 4
    ports = {p for i in instances for r in i["remainingResources"] if r["name"] == "PORTS" for p in r["stringSetValue"]}
    assert {str(port) for _, port in bindings} <= ports


def test_placement_failures_and_strategies(cluster: Cluster) -> None:
    cluster.register("web")
    before = cluster.ecs.list_tasks(cluster=cluster.name)["taskArns"]
    cluster.register("huge", memory=4096, memoryReservation=4096)
    result = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="huge", count=1)
    assert result["tasks"] == []
    assert {f["reason"] for f in result["failures"]} == {"RESOURCE:MEMORY"}
    assert cluster.ecs.list_tasks(cluster=cluster.name)["taskArns"] == before

    binpack = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=3,
                                   placementStrategy=[{"type": "binpack", "field": "memory"}])["tasks"]
    assert len({t["containerInstanceArn"] for t in binpack}) == 1

    spread = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=4, group="spread-test",
                                  placementStrategy=[{"type": "spread", "field": "instanceId"}])["tasks"]
    per_instance: dict[str, int] = {}
    for task in spread:
        per_instance[task["containerInstanceArn"]] = per_instance.get(task["containerInstanceArn"], 0) + 1
    assert sorted(per_instance.values()) == [2, 2]

    distinct = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=3, group="distinct",
                                    placementConstraints=[{"type": "distinctInstance"}])
    assert len(distinct["tasks"]) == 2
    assert len({t["containerInstanceArn"] for t in distinct["tasks"]}) == 2
    assert {f["reason"] for f in distinct["failures"]} == {"DistinctInstance placement constraint unsatisfied."}

    member = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=2,
                                  placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == az-2"}])
    az2 = next(a.instance_arn for a in cluster.agents if a.host_ip == "127.0.1.2")
    assert {t["containerInstanceArn"] for t in member["tasks"]} == {az2}
    all_arns = [t["taskArn"] for t in binpack + spread + distinct["tasks"] + member["tasks"]]
    cluster.wait_status(all_arns, "RUNNING", timeout=60)


def test_stop_task_and_essential_exit(cluster: Cluster) -> None:
    cluster.register("web")
    arns = [t["taskArn"] for t in cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=2)["tasks"]]
    cluster.wait_status(arns, "RUNNING")
    stop_timeout = 5  # the web container's stopTimeout; the sidecar ignores SIGTERM
    asked = time.time()
    cluster.ecs.stop_task(cluster=cluster.name, task=arns[0], reason="testing stop")
    stopped = cluster.wait_status(arns[:1], "STOPPED", timeout=stop_timeout + 2 + 3)[0]
    assert stopped["stopCode"] == "UserInitiated" and stopped["stoppedReason"] == "testing stop"
    assert stopped["stoppedAt"].timestamp() - asked <= stop_timeout + 2
    codes = {c["name"]: c.get("exitCode") for c in stopped["containers"]}
    assert codes == {"web": 0, "sidecar": 137}

    client = docker.from_env()
    victim = next(c for c in cluster.describe(arns[1:])[0]["containers"] if c["name"] == "web")
    client.containers.get(victim["runtimeId"]).kill()
    died = cluster.wait_status(arns[1:], "STOPPED", timeout=15)[0]
    assert died["stopCode"] == "EssentialContainerExited"
    assert died["stoppedReason"] == "Essential container in task exited"
    assert next(c for c in died["containers"] if c["name"] == "web")["exitCode"] == 137
    assert cluster.ecs.list_tasks(cluster=cluster.name)["taskArns"] == []
    assert sorted(cluster.ecs.list_tasks(cluster=cluster.name, desiredStatus="STOPPED")["taskArns"]) == sorted(arns)
    instances = cluster.instances()
    assert all(next(r["integerValue"] for r in i["remainingResources"] if r["name"] == "MEMORY") == 2048 for i in instances)


def test_missing_image_stops_with_cannot_pull(cluster: Cluster) -> None:
    cluster.register("ghost", image="dockyard-test/does-not-exist:1")
    arn = cluster.ecs.run_task(cluster=cluster.name, taskDefinition="ghost")["tasks"][0]["taskArn"]
    task = cluster.wait_status([arn], "STOPPED", timeout=30)[0]
    assert task["stoppedReason"].startswith("CannotPullContainerError")
    assert task["stopCode"] == "TaskFailedToStart"


def _task_containers(client: Any, task_arn: str) -> list[Any]:
    # sparse: no per-container inspect, which races with the agent removing the container
    # (404 between list and inspect); the list answer carries the status.
    return list(client.containers.list(all=True, sparse=True,
                                       filters={"label": f"com.dockyard.task-arn={task_arn}"}))


def test_agent_kill_9_and_restart_readopts(cluster: Cluster) -> None:
    cluster.register("web")
    arns = [t["taskArn"] for t in cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=4)["tasks"]]
    tasks = cluster.wait_status(arns, "RUNNING")
    client = docker.from_env()
    before = {arn: sorted(c.id for c in _task_containers(client, arn)) for arn in arns}
    agent = cluster.agents[0]
    on_agent = [t["taskArn"] for t in tasks if t["containerInstanceArn"] == agent.instance_arn]
    agent.kill9()
    agent.start()
    wait_for(lambda: all(i["agentConnected"] for i in cluster.instances()), what="agent reconnected")
    # While it was away nothing changed; afterwards the same tasks run, in the same containers.
    tasks = cluster.wait_status(arns, "RUNNING")
    after = {arn: sorted(c.id for c in _task_containers(client, arn)) for arn in arns}
    assert after == before
    assert len(cluster.ecs.list_container_instances(cluster=cluster.name)["containerInstanceArns"]) == 2
    # Changes made while the agent is down are reported when it is back.
    if on_agent:
        agent.kill9()
        victim = next(c for c in cluster.describe(on_agent[:1])[0]["containers"] if c["name"] == "web")
        client.containers.get(victim["runtimeId"]).kill()
        agent.start()
        stopped = cluster.wait_status(on_agent[:1], "STOPPED", timeout=20)[0]
        assert stopped["stopCode"] == "EssentialContainerExited"


def test_lost_host_stops_its_tasks_and_returning_agent_stops_containers(cluster: Cluster) -> None:
    cluster.register("web")
    agent = cluster.agents[0]
    arns = [t["taskArn"] for t in cluster.ecs.start_task(cluster=cluster.name, taskDefinition="web",
                                                           containerInstances=[agent.instance_arn])["tasks"]]
    cluster.wait_status(arns, "RUNNING")
    agent.kill9()
    stopped = cluster.wait_status(arns, "STOPPED", timeout=20)[0]
    assert "was lost" in stopped["stoppedReason"]
    client = docker.from_env()
    assert any(c.status == "running" for c in _task_containers(client, arns[0]))
    agent.start()
    wait_for(lambda: not any(c.status == "running" for c in _task_containers(client, arns[0])),
             timeout=20, what="containers of the lost task stopped")


def test_server_restart_agents_resync(cluster: Cluster) -> None:
    cluster.register("web")
    arns = [t["taskArn"] for t in cluster.ecs.run_task(cluster=cluster.name, taskDefinition="web", count=2)["tasks"]]
    cluster.wait_status(arns, "RUNNING")
    cluster.server.kill9()
    cluster.server.start()
    cluster.ecs = cluster.server.client()
    wait_for(lambda: all(i["agentConnected"] for i in cluster.instances()), what="agents reconnected")
    cluster.wait_status(arns, "RUNNING")
    cluster.ecs.stop_task(cluster=cluster.name, task=arns[0])
    cluster.wait_status(arns[:1], "STOPPED", timeout=15)


def test_task_logs_and_task_cli(cluster: Cluster) -> None:
    import subprocess
    import sys

    cluster.ecs.register_task_definition(
        family="talker",
        containerDefinitions=[{
            "name": "talker", "image": "dockyard-test/busybox:1", "memory": 32,
            "command": ["sh", "-c", "echo hello-from-task; echo line-two; exec sleep 300"],
        }],
    )
    env = {**__import__("os").environ, "DOCKYARD_ENDPOINT": cluster.server.endpoint,
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True,
                              text=True, env=env, timeout=60, check=False)

    ran = cli("--output", "json", "task", "run", "--cluster", cluster.name, "talker")
    assert ran.returncode == 0, ran.stderr
    arn = json.loads(ran.stdout)["tasks"][0]["taskArn"]
    cluster.wait_status([arn], "RUNNING")
    def read_logs() -> str | None:
        out = cli("task", "logs", "--cluster", cluster.name, arn.rsplit("/", 1)[1]).stdout
        return out if "line-two" in out else None

    logs = wait_for(read_logs, timeout=15, what="logs")
    assert logs.splitlines()[:2] == ["hello-from-task", "line-two"]
    listed = cli("task", "ls", "--cluster", cluster.name)
    assert listed.returncode == 0 and arn.rsplit("/", 1)[1][:8] in listed.stdout
    missing = cli("task", "logs", "--cluster", cluster.name, "nope")
    assert missing.returncode == 1 and "not found" in missing.stderr
    stopped = cli("task", "stop", "--cluster", cluster.name, arn)
    assert stopped.returncode == 0, stopped.stderr
    cluster.wait_status([arn], "STOPPED", timeout=15)
