"""The task metadata endpoint v4 on real Docker, read from inside a running task.

One server, one agent (127.0.1.1). A task with two containers: `web` (the walkthrough's
image: its /discover/ page reads the endpoint) and `probe`, a busybox shell that reads
every path with `wget -qO-` (as the issue's "Must show" line does) and prints the
answers, which the test reads back with `docker logs`.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import AgentProcess, ServerProcess, remove_task_containers, wait_for

pytestmark = pytest.mark.e2e

HOST_IP = "127.0.1.1"
PROBE = r"""
URI="$ECS_CONTAINER_METADATA_URI_V4"
i=0
while [ $i -lt 120 ]; do
  echo "TASK $(wget -qO- "$URI/task" 2>&1)"
  echo "SELF $(wget -qO- "$URI" 2>&1)"
  echo "STATS $(wget -qO- "$URI/stats" 2>&1)"
  echo "TASKSTATS $(wget -qO- "$URI/task/stats" 2>&1)"
  echo "V3 $(wget -qO- "$ECS_CONTAINER_METADATA_URI/task" 2>&1)"
  echo "WRONG $(wget -qO- "${URI%/*}/0123456789abcdef0123456789abcdef01234567/task" 2>&1)"
  i=$((i + 1))
  sleep 1
done
sleep 3600
"""


@pytest.fixture
def stack(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[tuple[Any, str]]:
    name = f"meta-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server")
    server.start()
    ecs = server.client()
    ecs.create_cluster(clusterName=name)
    agent = AgentProcess(
        server.endpoint,
        tmp_path / "agent",
        HOST_IP,
        cluster=name,
        extra_args=["--stop-timeout", "2s", "--availability-zone", "az-1"],
    )
    agent.start()
    try:
        yield ecs, name
    finally:
        agent.stop()
        server.stop()
        remove_task_containers(name)


def _lines(container_id: str) -> dict[str, list[str]]:
    """The probe's output by marker, oldest first."""
    logs = docker.from_env().containers.get(container_id).logs().decode(errors="replace")
    out: dict[str, list[str]] = {}
    for line in logs.splitlines():
        marker, _, rest = line.partition(" ")
        out.setdefault(marker, []).append(rest)
    return out


def _settled(container_id: str) -> dict[str, Any] | None:
    """The probe's latest answers once /task shows the task RUNNING with both containers."""
    lines = _lines(container_id)
    for index in range(len(lines.get("TASK", [])) - 1, -1, -1):
        try:
            task = json.loads(lines["TASK"][index])
        except ValueError:
            continue
        ids = [c.get("DockerId") for c in task.get("Containers", [])]
        complete = len(lines.get("WRONG", [])) > index  # every answer of this round printed
        if task.get("KnownStatus") == "RUNNING" and len(ids) == 2 and all(ids) and complete:
            return {key: values[index] for key, values in lines.items()} | {"task": task}
    return None


def test_a_task_reads_its_own_metadata_from_inside(stack: tuple[Any, str]) -> None:
    ecs, cluster = stack
    family = f"meta-{uuid.uuid4().hex[:6]}"
    revision = ecs.register_task_definition(
        family=family,
        networkMode="bridge",
        containerDefinitions=[
            {"name": "web", "image": "dockyard-demo/web:1", "memory": 64, "cpu": 64,
             "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]},
            {"name": "probe", "image": "dockyard-test/busybox:1", "memory": 32,
             "command": ["sh", "-c", PROBE], "essential": False},
        ],
    )["taskDefinition"]["revision"]  # fmt: skip
    task_arn = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]

    def running() -> dict[str, Any] | None:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
        return tasks[0] if tasks and tasks[0]["lastStatus"] == "RUNNING" else None

    described = wait_for(running, 60, what="task RUNNING")
    by_name = {c["name"]: c for c in described["containers"]}
    probe_id, web = by_name["probe"]["runtimeId"], by_name["web"]
    answers = wait_for(lambda: _settled(probe_id), 60, interval=0.5, what="probe answers")

    task = answers["task"]
    assert task["TaskARN"] == task_arn and task["Family"] == family
    assert task["Revision"] == str(revision) and task["LaunchType"] == "EC2"
    assert task["Cluster"].endswith(f":cluster/{cluster}") and task["AvailabilityZone"] == "az-1"
    assert task["DesiredStatus"] == "RUNNING" and "PullStartedAt" in task
    containers = {c["Name"]: c for c in task["Containers"]}
    assert containers["web"]["DockerId"] == web["runtimeId"]
    assert containers["web"]["Ports"] == [
        {
            "ContainerPort": 8080,
            "Protocol": "tcp",
            "HostPort": web["networkBindings"][0]["hostPort"],
            "HostIp": HOST_IP,
        }
    ]
    assert containers["probe"]["DockerId"] == probe_id and "Ports" not in containers["probe"]
    assert containers["web"]["ImageID"].startswith("sha256:")
    assert containers["web"]["Limits"] == {"CPU": 64, "Memory": 64}
    assert containers["web"]["Networks"][0]["NetworkMode"] == "bridge"
    assert containers["web"]["Networks"][0]["IPv4Addresses"]
    assert containers["web"]["Labels"]["com.amazonaws.ecs.task-arn"] == task_arn

    own = json.loads(answers["SELF"])
    assert own["Name"] == "probe" and own["DockerId"] == probe_id and "Containers" not in own
    stats = json.loads(answers["STATS"])
    assert "memory_stats" in stats and "cpu_stats" in stats and stats["id"] == probe_id
    task_stats = json.loads(answers["TASKSTATS"])
    assert set(task_stats) == {probe_id, web["runtimeId"]}
    assert all("memory_stats" in sample for sample in task_stats.values())
    v3 = json.loads(answers["V3"])
    assert v3["TaskARN"] == task_arn and "LaunchType" not in v3
    assert "404" in answers["WRONG"] and task_arn not in answers["WRONG"]

    # The walkthrough image's /discover/ page reads the same endpoint (as /discover.php).
    url = f"http://{HOST_IP}:{web['networkBindings'][0]['hostPort']}/discover/"
    with urllib.request.urlopen(url, timeout=10) as answer:
        discover = json.loads(answer.read())
    assert discover["DOCKYARD_TASK_ARN"] == task_arn
    assert discover["task"]["TaskARN"] == task_arn
    assert {c["Name"] for c in discover["task"]["Containers"]} == {"web", "probe"}
