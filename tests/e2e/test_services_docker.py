"""Services on real Docker: desired count kept, rolling deployments within bounds,
circuit breaker with rollback, draining, DAEMON services."""

from __future__ import annotations

import json
import time
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


class Env:
    def __init__(self, tmp_path: Path, server: ServerProcess, name: str) -> None:
        self.tmp_path, self.server, self.name = tmp_path, server, name
        self.ecs = server.client()
        self.agents: list[AgentProcess] = []

    def add_agent(self, index: int) -> AgentProcess:
        agent = AgentProcess(self.server.endpoint, self.tmp_path / f"agent{index}", f"127.0.1.{index}",
                             cluster=self.name, extra_args=["--stop-timeout", "2s", "--cleanup-wait", "5s"])
        agent.start()
        self.agents.append(agent)
        return agent

    def cli(self, *args: str) -> dict[str, Any]:
        done = aws_cli(self.server.endpoint, "ecs", *args)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout)) if done.stdout.strip() else {}

    def register(self, family: str = "web", image: str = "dockyard-demo/web:1") -> str:
        doc = json.loads((DATA / "web-taskdef.json").read_text())
        doc["family"] = family
        doc["containerDefinitions"] = doc["containerDefinitions"][:1]
        web = doc["containerDefinitions"][0]
        web.pop("links", None)
        web["image"] = image
        web["healthCheck"]["interval"] = 5
        path = self.tmp_path / f"{family}-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(doc))
        return str(self.cli("register-task-definition", "--cli-input-json", f"file://{path}")["taskDefinition"]["taskDefinitionArn"])

    def service(self, name: str) -> dict[str, Any]:
        return dict(self.ecs.describe_services(cluster=self.name, services=[name])["services"][0])

    def live_tasks(self, service: str) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.name, serviceName=service)["taskArns"]
        return list(self.ecs.describe_tasks(cluster=self.name, tasks=arns)["tasks"]) if arns else []

    def wait_steady(self, name: str, count: int, timeout: float = 60) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            service = self.service(name)
            ok = (
                service["runningCount"] == count
                and service["pendingCount"] == 0
                and len(service["deployments"]) == 1
                and service["deployments"][0]["rolloutState"] == "COMPLETED"
            )
            return service if ok else None

        return dict(wait_for(check, timeout, interval=0.2, what=f"{name} steady at {count}"))


@pytest.fixture
def env(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Env]:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server")
    server.start()
    server.client().create_cluster(clusterName=name)
    environment = Env(tmp_path, server, name)
    try:
        yield environment
    finally:
        for agent in environment.agents:
            agent.stop()
        server.stop()
        remove_task_containers(name)


def test_service_keeps_count_and_rolls_out_within_bounds(env: Env) -> None:
    env.add_agent(1)
    env.add_agent(2)
    first = env.register()
    env.cli("create-service", "--cluster", env.name, "--service-name", "web", "--task-definition", first,
            "--desired-count", "4", "--deployment-configuration",
            "maximumPercent=200,minimumHealthyPercent=50")
    service = env.wait_steady("web", 4)
    assert any("has reached a steady state" in e["message"] for e in service["events"])
    tasks = env.live_tasks("web")
    assert {t["group"] for t in tasks} == {"service:web"}
    assert {t["startedBy"] for t in tasks} == {service["deployments"][0]["id"]}

    # docker kill of one container: replaced within 10 s, and the events say so.
    client = docker.from_env()
    victim = tasks[0]
    client.containers.get(victim["containers"][0]["runtimeId"]).kill()
    killed_at = time.monotonic()

    def replaced() -> bool:
        live = [t for t in env.live_tasks("web") if t["lastStatus"] == "RUNNING"]
        return len(live) == 4 and victim["taskArn"] not in {t["taskArn"] for t in live}

    wait_for(replaced, timeout=10, interval=0.2, what="replacement RUNNING")
    assert time.monotonic() - killed_at <= 10
    messages = [e["message"] for e in env.service("web")["events"]]
    assert any("has started 1 tasks" in m for m in messages)
    env.wait_steady("web", 4)

    # Roll to a new revision with 50/200: RUNNING never < 2, all tasks never > 8.
    second = env.register()
    env.cli("update-service", "--cluster", env.name, "--service", "web", "--task-definition", second)
    low, high, samples = 99, 0, 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tasks = env.live_tasks("web")
        running = sum(1 for t in tasks if t["lastStatus"] == "RUNNING")
        low, high, samples = min(low, running), max(high, len(tasks)), samples + 1
        service = env.service("web")
        if (len(service["deployments"]) == 1 and service["deployments"][0]["rolloutState"] == "COMPLETED"
                and service["runningCount"] == 4 and service["pendingCount"] == 0):
            break
        time.sleep(0.2)
    assert samples > 3
    assert low >= 2, f"RUNNING dropped to {low}"
    assert high <= 8, f"{high} tasks at once"
    service = env.wait_steady("web", 4)
    assert service["taskDefinition"] == second
    assert {t["taskDefinitionArn"] for t in env.live_tasks("web")} == {second}


def test_circuit_breaker_rolls_back_a_revision_that_cannot_start(env: Env) -> None:
    env.add_agent(1)
    env.add_agent(2)
    good = env.register()
    env.ecs.create_service(cluster=env.name, serviceName="web", taskDefinition=good, desiredCount=4,
                           deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    env.wait_steady("web", 4)
    bad = env.register(image="dockyard-test/no-such-image:1")
    env.ecs.update_service(cluster=env.name, service="web", taskDefinition=bad)

    def failed() -> dict[str, Any] | None:
        for d in env.service("web")["deployments"]:
            if d["taskDefinition"] == bad and d["rolloutState"] == "FAILED":
                return dict(d)
        return None

    failure = wait_for(failed, timeout=90, interval=0.3, what="deployment FAILED")
    assert failure["failedTasks"] >= 3
    service = env.wait_steady("web", 4, timeout=90)
    assert service["taskDefinition"] == good
    assert {t["taskDefinitionArn"] for t in env.live_tasks("web")} == {good}
    messages = [e["message"] for e in service["events"]]
    assert any("rolling back" in m for m in messages)


def test_draining_moves_tasks_within_minimum(env: Env) -> None:
    one = env.add_agent(1)
    env.add_agent(2)
    td = env.register()
    env.ecs.create_service(cluster=env.name, serviceName="web", taskDefinition=td, desiredCount=4,
                           placementStrategy=[{"type": "spread", "field": "instanceId"}],
                           deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 50})
    env.wait_steady("web", 4)
    env.cli("update-container-instances-state", "--cluster", env.name, "--container-instances",
            one.instance_arn, "--status", "DRAINING")
    low = 99
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tasks = env.live_tasks("web")
        low = min(low, sum(1 for t in tasks if t["lastStatus"] == "RUNNING"))
        if tasks and all(t["containerInstanceArn"] != one.instance_arn for t in tasks) and \
                sum(1 for t in tasks if t["lastStatus"] == "RUNNING") == 4:
            break
        time.sleep(0.2)
    assert low >= 2
    tasks = env.live_tasks("web")
    assert len(tasks) == 4 and all(t["containerInstanceArn"] != one.instance_arn for t in tasks)
    env.ecs.update_container_instances_state(cluster=env.name, containerInstances=[one.instance_arn], status="ACTIVE")


def test_daemon_service_runs_one_task_per_instance(env: Env) -> None:
    env.add_agent(1)
    env.add_agent(2)
    td = env.register()
    env.cli("create-service", "--cluster", env.name, "--service-name", "node-exporter", "--task-definition", td,
            "--scheduling-strategy", "DAEMON")

    def per_instance(count: int) -> bool:
        tasks = [t for t in env.live_tasks("node-exporter") if t["lastStatus"] == "RUNNING"]
        return len(tasks) == count and len({t["containerInstanceArn"] for t in tasks}) == count

    wait_for(lambda: per_instance(2), timeout=40, what="one daemon task per instance")
    env.add_agent(3)
    wait_for(lambda: per_instance(3), timeout=40, what="daemon task on the new instance")
    assert env.service("node-exporter")["desiredCount"] == 3


def test_delete_service_drains_it(env: Env) -> None:
    env.add_agent(1)
    td = env.register()
    env.ecs.create_service(cluster=env.name, serviceName="web", taskDefinition=td, desiredCount=2)
    env.wait_steady("web", 2)
    with pytest.raises(env.ecs.exceptions.InvalidParameterException):
        env.ecs.delete_service(cluster=env.name, service="web")
    assert env.ecs.delete_service(cluster=env.name, service="web", force=True)["service"]["status"] == "DRAINING"
    wait_for(lambda: env.service("web")["status"] == "INACTIVE", timeout=30, what="service INACTIVE")
    assert env.live_tasks("web") == []
    assert env.ecs.list_services(cluster=env.name)["serviceArns"] == []
