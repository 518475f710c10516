"""UpdateContainerAgent on real Docker: the agent upgrades to the server's version twice
(boto3, then the aws CLI after the server restarted with newer code), re-executing
itself in place, and its task keeps the same containers and never stops.

A "newer" server is made with DOCKYARD_VERSION_SUFFIX (api/agent_package.py); the agent
runs from the same source tree, so without it the versions would be equal.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import (
    DATA,
    AgentProcess,
    ServerProcess,
    aws_cli,
    remove_task_containers,
    wait_for,
)

pytestmark = pytest.mark.e2e
UPDATE_TIMEOUT_S = 180.0


@pytest.fixture
def setup(
    tmp_path: Path, docker_images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServerProcess, AgentProcess, str]]:
    name = f"upd-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DOCKYARD_VERSION_SUFFIX", "next1")
    server = ServerProcess(tmp_path / "server")
    server.start()
    server.client().create_cluster(clusterName=name)
    agent = AgentProcess(server.endpoint, tmp_path / "agent", "127.0.1.7", cluster=name,
                         extra_args=["--stop-timeout", "3s"])  # fmt: skip
    agent.start()
    try:
        yield server, agent, name
    finally:
        agent.stop()
        server.stop()
        remove_task_containers(name)


def _instance(ecs: Any, cluster: str, arn: str) -> dict[str, Any]:
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])
    return dict(found["containerInstances"][0])


def _container_ids(task_arn: str) -> set[str]:
    client = docker.from_env()
    listed = client.containers.list(filters={"label": f"com.dockyard.task-arn={task_arn}"})
    return {c.id for c in listed}


def _wait_updated(server: ServerProcess, agent: AgentProcess, cluster: str, task_arn: str,
                  suffix: str) -> dict[str, Any]:  # fmt: skip
    """Poll until UPDATED with the new version; the task must never leave RUNNING."""
    ecs = server.client()
    seen: list[str] = []

    def check() -> dict[str, Any] | None:
        task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING", task
        instance = _instance(ecs, cluster, agent.instance_arn)
        status = instance.get("agentUpdateStatus", "")
        if not seen or seen[-1] != status:
            seen.append(status)
        assert status != "FAILED", f"update failed; agent log:\n{agent.log()[-4000:]}"
        assert agent.proc is not None and agent.proc.poll() is None, agent.log()[-4000:]
        version = instance["versionInfo"]["agentVersion"]
        # registered (UPDATED) first, then connected: wait for both
        if status == "UPDATED" and version.endswith(suffix) and instance["agentConnected"]:
            return instance
        return None

    return dict(wait_for(check, UPDATE_TIMEOUT_S, interval=0.3, what=f"agent UPDATED ({seen})"))


def test_update_container_agent_keeps_containers_and_tasks(
    setup: tuple[ServerProcess, AgentProcess, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, agent, cluster = setup
    ecs = server.client()
    before = _instance(ecs, cluster, agent.instance_arn)
    old_version = before["versionInfo"]["agentVersion"]
    assert old_version.startswith("0.") and "+" in old_version
    assert before["versionInfo"]["agentHash"] == old_version.split("+")[1][:12]
    assert "agentUpdateStatus" not in before

    definition = json.loads((DATA / "web-taskdef.json").read_text())
    definition["family"] = "upd-web"
    ecs.register_task_definition(**definition)
    task_arn = ecs.run_task(cluster=cluster, taskDefinition="upd-web")["tasks"][0]["taskArn"]
    wait_for(lambda: ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]["lastStatus"]
             == "RUNNING", 60, what="task RUNNING")  # fmt: skip
    ids = _container_ids(task_arn)
    assert ids
    pid = agent.proc.pid if agent.proc else None

    # 1. boto3: upgrade to the server's version (suffix next1)
    answer = ecs.update_container_agent(cluster=cluster, containerInstance=agent.instance_arn)
    assert answer["containerInstance"]["agentUpdateStatus"] == "PENDING"
    with pytest.raises(ClientError) as again:  # under way (or, if already done, nothing newer)
        ecs.update_container_agent(cluster=cluster, containerInstance=agent.instance_arn)
    assert again.value.response["Error"]["Code"] in {
        "UpdateInProgressException", "NoUpdateAvailableException"}  # fmt: skip
    first = _wait_updated(server, agent, cluster, task_arn, ".next1")
    assert first["versionInfo"]["agentVersion"] != old_version
    assert agent.proc is not None and agent.proc.pid == pid  # re-executed in place
    assert _container_ids(task_arn) == ids
    assert (agent.data_dir / "versions" / first["versionInfo"]["agentVersion"]).is_dir()
    refused = aws_cli(server.endpoint, "ecs", "update-container-agent", "--cluster", cluster,
                      "--container-instance", agent.instance_arn)  # fmt: skip
    assert refused.returncode != 0 and "NoUpdateAvailableException" in refused.stderr

    # 2. the server restarts with newer code; the aws CLI upgrades the upgraded agent
    server.stop()
    monkeypatch.setenv("DOCKYARD_VERSION_SUFFIX", "next2")
    server.start()
    wait_for(lambda: _instance(ecs, cluster, agent.instance_arn)["agentConnected"], 60,
             what="agent reconnected")  # fmt: skip
    ran = aws_cli(server.endpoint, "ecs", "update-container-agent", "--cluster", cluster,
                  "--container-instance", agent.instance_arn)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["containerInstance"]["agentUpdateStatus"] == "PENDING"
    second = _wait_updated(server, agent, cluster, task_arn, ".next2")
    assert _container_ids(task_arn) == ids
    task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    assert {c["runtimeId"] for c in task["containers"]} == ids
    # the installing agent keeps the version it ran from and the new one, nothing else
    kept = {p.name for p in (agent.data_dir / "versions").iterdir()}
    assert kept == {first["versionInfo"]["agentVersion"], second["versionInfo"]["agentVersion"]}
    assert "agent update: restarting with" in agent.log()
