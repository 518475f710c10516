"""awslogs on real Docker: a task's output reaches CloudWatch Logs within 2 s, survives
`kill -9` of its agent with no line lost or repeated, and filter patterns find it."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.testing.images import BUSYBOX_IMAGE
from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_cli,
    remove_task_containers,
    wait_for,
)

pytestmark = pytest.mark.e2e

# One line every 0.1 s, every fifth an ERROR: "INFO 1", ..., "ERROR 5", ...
PRINTER = (
    "i=0; while true; do i=$((i+1)); "
    'if [ $((i % 5)) = 0 ]; then echo "ERROR $i"; else echo "INFO $i"; fi; '
    "sleep 0.1; done"
)


@pytest.fixture
def stack(
    tmp_path: Path, docker_images: dict[str, str]
) -> Iterator[tuple[ServerProcess, AgentProcess, str]]:
    name = f"logs-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server")
    server.start()
    server.client().create_cluster(clusterName=name)
    agent = AgentProcess(server.endpoint, tmp_path / "agent", "127.0.1.1", cluster=name,
                         extra_args=["--stop-timeout", "2s", "--cleanup-wait", "60s"])  # fmt: skip
    agent.start()
    try:
        yield server, agent, name
    finally:
        agent.stop()
        server.stop()
        remove_task_containers(name)


def run_printer(server: ServerProcess, cluster: str, group: str, log_driver: str) -> str:
    ecs = server.client()
    options = {"awslogs-group": group, "awslogs-stream-prefix": "app", "awslogs-region": "us-east-1",
               "awslogs-create-group": "true"}  # fmt: skip
    arn = ecs.register_task_definition(
        family=f"printer-{log_driver}",
        containerDefinitions=[
            {
                "name": "printer",
                "image": BUSYBOX_IMAGE,
                "memory": 32,
                "command": ["sh", "-c", PRINTER],
                "logConfiguration": {
                    "logDriver": log_driver,
                    "options": options if log_driver == "awslogs" else {},
                },
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    task = ecs.run_task(cluster=cluster, taskDefinition=arn)["tasks"][0]
    return str(task["taskArn"])


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [int(re.sub(r"\D", "", e["message"])) for e in events]


def read_all(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    events, token = [], None
    for _ in range(100):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kwargs)
        events += page["events"]
        if page["nextForwardToken"] == token:
            return events
        token = page["nextForwardToken"]
    raise AssertionError("too many pages")


def test_awslogs_ships_within_2s_and_survives_agent_kill9(
    stack: tuple[ServerProcess, AgentProcess, str],
) -> None:
    server, agent, cluster = stack
    logs = server.client("logs")
    group = f"/ecs/{cluster}"
    task_arn = run_printer(server, cluster, group, "awslogs")
    stream = f"app/printer/{task_arn.rsplit('/', 1)[-1]}"

    first = wait_for(lambda: read_all(logs, group, stream) if logs.describe_log_groups(
        logGroupNamePrefix=group)["logGroups"] else None, 30, 0.2, "first shipped lines")  # fmt: skip
    # Freshness: the newest shipped line is at most 2 s older than now.
    newest = wait_for(lambda: read_all(logs, group, stream)[-1], 10, 0.2, "lines")
    assert time.time() * 1000 - newest["timestamp"] < 2000 + 1000  # 2 s, plus polling slack
    assert first

    agent.kill9()
    time.sleep(1.5)  # the container keeps printing while no agent ships
    agent.start()
    seen_after = len(read_all(logs, group, stream))
    wait_for(lambda: len(read_all(logs, group, stream)) > seen_after + 20, 30, 0.2,
             "lines after the restart")  # fmt: skip
    got = numbers(read_all(logs, group, stream))
    assert got == list(range(1, len(got) + 1)), "a line was lost or repeated"

    found = aws_cli(server.endpoint, "logs", "filter-log-events", "--log-group-name", group,
                    "--filter-pattern", "ERROR")  # fmt: skip
    assert found.returncode == 0, found.stderr
    errors = json.loads(found.stdout)["events"]
    assert errors and all(e["message"].startswith("ERROR") for e in errors)
    assert numbers(errors) == list(range(5, 5 * len(errors) + 1, 5))  # every ERROR line
    assert len(errors) >= len(got) // 5


def test_other_log_drivers_pass_through_to_docker(
    stack: tuple[ServerProcess, AgentProcess, str],
) -> None:
    server, _agent, cluster = stack
    client = docker.from_env()
    for driver in ("json-file", "none"):
        task_arn = run_printer(server, cluster, "unused", driver)

        def container(task_arn: str = task_arn) -> Any:
            found = client.containers.list(filters={"label": f"com.dockyard.task-arn={task_arn}"})
            return found[0] if found else None

        found = wait_for(container, 30, 0.2, f"the {driver} container")
        assert found.attrs["HostConfig"]["LogConfig"]["Type"] == driver
    assert server.client("logs").describe_log_groups()["logGroups"] == []
