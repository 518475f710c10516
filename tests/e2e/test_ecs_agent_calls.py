"""The agent-side ECS calls through the public API (an external agent or scheduler
reports), and the operations Dockyard refuses because they make no sense off AWS.

The host is a Dockyard agent with the in-memory runtime (placement needs a connected
agent); the test then reports through the public API as an outside agent would, and the
task, its host's capacity and its service follow those reports. No Docker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_error,
    aws_json,
    client_error,
    wait_for,
)

WEB = {  # no health check: the host agent has nothing to report once its task runs
    "family": "web",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "x",
            "memory": 128,
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        }
    ],
}


def remaining(ecs: Any, instance_arn: str, name: str) -> Any:
    doc = ecs.describe_container_instances(cluster="stage01", containerInstances=[instance_arn])
    resource = next(
        r for r in doc["containerInstances"][0]["remainingResources"] if r["name"] == name
    )
    return (
        resource["stringSetValue"] if resource["type"] == "STRINGSET" else resource["integerValue"]
    )


@pytest.fixture
def host(server: ServerProcess, ecs: Any, tmp_path: Path) -> Iterator[str]:
    """A cluster stage01 with one simulated host (its instance ARN) and the task
    definition web."""
    ecs.create_cluster(clusterName="stage01")
    ecs.register_task_definition(**WEB)
    agent = AgentProcess(
        server.endpoint, tmp_path / "agent", "127.0.1.1", extra_args=["--fake-runtime"]
    )
    agent.start(timeout=60)
    try:
        yield agent.instance_arn
    finally:
        agent.stop()


def run_one(ecs: Any) -> str:
    """RunTask web, waiting until the host's agent has it RUNNING."""
    arn = str(ecs.run_task(cluster="stage01", taskDefinition="web")["tasks"][0]["taskArn"])
    wait_for(
        lambda: describe(ecs, arn)["lastStatus"] == "RUNNING",
        timeout=60,
        what="the task RUNNING on the simulated host",
    )
    return arn


def describe(ecs: Any, arn: str) -> dict[str, Any]:
    return dict(ecs.describe_tasks(cluster="stage01", tasks=[arn])["tasks"][0])


def cluster_counts(ecs: Any) -> tuple[int, int]:
    """DescribeClusters' (runningTasksCount, pendingTasksCount) of stage01."""
    cluster = ecs.describe_clusters(clusters=["stage01"])["clusters"][0]
    return cluster["runningTasksCount"], cluster["pendingTasksCount"]


def test_reported_state_changes_move_the_task_and_its_capacity(ecs: Any, host: str) -> None:
    full_memory = remaining(ecs, host, "MEMORY")
    assert cluster_counts(ecs) == (0, 0)  # the cluster's totals followed from here on
    arn = run_one(ecs)
    assert remaining(ecs, host, "MEMORY") == full_memory - 128
    assert cluster_counts(ecs) == (1, 0)

    ack = ecs.submit_task_state_change(
        cluster="stage01",
        task=arn,
        status="RUNNING",
        pullStartedAt=1_800_000_000,
        pullStoppedAt=1_800_000_002,
        containers=[
            {
                "containerName": "web",
                "runtimeId": "c0ffee",
                "status": "RUNNING",
                "networkBindings": [
                    {
                        "bindIP": "127.0.1.1",
                        "containerPort": 8080,
                        "hostPort": 50123,
                        "protocol": "tcp",
                    }
                ],
            }
        ],
    )
    assert ack["acknowledgment"] == "ACK"
    running = describe(ecs, arn)
    assert running["pullStartedAt"].timestamp() == 1_800_000_000
    container = running["containers"][0]
    assert container["runtimeId"] == "c0ffee"
    assert [b["hostPort"] for b in container["networkBindings"]] == [50123]
    assert "50123" in remaining(ecs, host, "PORTS")  # the reported host port is taken

    ack = ecs.submit_container_state_change(
        cluster="stage01",
        task=arn.rsplit("/", 1)[1],
        containerName="web",
        status="STOPPED",
        exitCode=3,
        reason="out of cheese",
    )
    assert ack["acknowledgment"] == "ACK"
    assert describe(ecs, arn)["containers"][0]["exitCode"] == 3
    ecs.submit_task_state_change(cluster="stage01", task=arn, status="STOPPED", reason="gone")
    stopped = describe(ecs, arn)
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert stopped["stoppedReason"] == "gone"
    assert cluster_counts(ecs) == (0, 0)
    assert stopped["containers"][0]["reason"] == "out of cheese"
    assert remaining(ecs, host, "MEMORY") == full_memory  # released
    assert "50123" not in remaining(ecs, host, "PORTS")
    # statuses only move forward, and the release happened once: a late RUNNING report
    # (and the host agent's own reports as it stops the container) change nothing
    ecs.submit_task_state_change(cluster="stage01", task=arn, status="RUNNING")
    wait_for(
        lambda: ecs.list_tasks(cluster="stage01", desiredStatus="STOPPED")["taskArns"],
        what="the stopped task listed",
    )
    assert describe(ecs, arn)["lastStatus"] == "STOPPED"
    assert remaining(ecs, host, "MEMORY") == full_memory


def test_bad_state_changes_are_refused_and_change_nothing(ecs: Any, host: str) -> None:
    arn = run_one(ecs)
    before = describe(ecs, arn)
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "submit_task_state_change",
            {"cluster": "nope", "task": arn, "status": "RUNNING"},
            "ClusterNotFoundException",
        ),
        (
            "submit_task_state_change",
            {"cluster": "stage01", "task": arn, "status": "FLYING"},
            "InvalidParameterException",
        ),
        (
            "submit_task_state_change",
            {"cluster": "stage01", "task": "0" * 32, "status": "RUNNING"},
            "InvalidParameterException",
        ),
        (
            "submit_task_state_change",
            {"cluster": "stage01", "status": "RUNNING"},
            "InvalidParameterException",
        ),
        (
            "submit_task_state_change",
            {
                "cluster": "stage01",
                "task": arn,
                "status": "RUNNING",
                "containers": [{"containerName": "ghost", "status": "RUNNING"}],
            },
            "InvalidParameterException",
        ),
        (
            "submit_task_state_change",
            {
                "cluster": "stage01",
                "task": arn,
                "status": "RUNNING",
                "attachments": [
                    {
                        "attachmentArn": "arn:aws:ecs:us-east-1:000000000000:attachment/x",
                        "status": "ATTACHED",
                    }
                ],
            },
            "InvalidParameterException",
        ),
        (
            "submit_container_state_change",
            {
                "cluster": "stage01",
                "task": arn,
                "containerName": "web",
                "status": "RUNNING",
                "networkBindings": [{"hostPort": 70000}],
            },
            "InvalidParameterException",
        ),
        (
            "submit_container_state_change",
            {"cluster": "stage01", "task": arn, "status": "RUNNING"},
            "InvalidParameterException",
        ),
        (
            "submit_attachment_state_changes",
            {
                "cluster": "stage01",
                "attachments": [
                    {
                        "attachmentArn": "arn:aws:ecs:us-east-1:000000000000:attachment/x",
                        "status": "ATTACHED",
                    }
                ],
            },
            "InvalidParameterException",
        ),
        (
            "discover_poll_endpoint",
            {"cluster": "arn:aws:ecs:us-east-1:000000000000:service/x"},
            "InvalidParameterException",
        ),
    ]
    for operation, params, code in cases:
        assert client_error(getattr(ecs, operation), **params)[0] == code, (operation, params)
    after = describe(ecs, arn)
    assert after["lastStatus"] == before["lastStatus"] == "RUNNING"
    assert after["containers"] == before["containers"]


def test_a_service_replaces_a_task_reported_stopped(ecs: Any, host: str) -> None:
    ecs.create_service(cluster="stage01", serviceName="web", taskDefinition="web", desiredCount=1)
    first = wait_for(
        lambda: ecs.list_tasks(cluster="stage01", serviceName="web")["taskArns"],
        timeout=60,
        what="the service's first task",
    )[0]
    wait_for(
        lambda: describe(ecs, first)["lastStatus"] == "RUNNING",
        timeout=60,
        what="the first task RUNNING",
    )
    ecs.submit_task_state_change(
        cluster="stage01", task=first, status="STOPPED", reason="Essential container in task exited"
    )
    replacement = wait_for(
        lambda: [
            a
            for a in ecs.list_tasks(cluster="stage01", serviceName="web")["taskArns"]
            if a != first
        ],
        timeout=60,
        what="a replacement task",
    )
    assert replacement and first not in replacement


def test_discover_poll_endpoint_names_this_server(server: ServerProcess, ecs: Any) -> None:
    answer = ecs.discover_poll_endpoint(cluster="stage01", containerInstance="0" * 32)
    assert answer["endpoint"] == server.endpoint + "/"
    assert answer["telemetryEndpoint"] == server.endpoint + "/"
    assert answer["serviceConnectEndpoint"] == server.endpoint + "/"


REFUSED = [  # (operation, params or None for the model's required members, code)
    ("create_express_gateway_service", None, "UnsupportedFeatureException"),
    ("list_daemons", {}, "UnsupportedFeatureException"),
    ("list_daemon_task_definitions", {}, "ClientException"),
]


def test_operations_of_aws_infrastructure_say_so(ecs: Any) -> None:
    """One server for every case (server starts are the slow part on a busy machine)."""
    for operation, given, code in REFUSED:
        if not hasattr(ecs, operation):
            continue  # an older botocore without the operation
        params = given
        if params is None:  # the required members, from the model
            shape = ecs.meta.service_model.operation_model(
                ecs.meta.method_to_api_mapping[operation]
            ).input_shape
            params = {name: _plausible(shape.members[name]) for name in shape.required_members}
        refused, message = client_error(getattr(ecs, operation), **params)
        assert refused == code, operation
        assert "is not available on Dockyard" in message


def _plausible(shape: Any) -> Any:
    if shape.type_name == "structure":
        return {n: _plausible(shape.members[n]) for n in shape.required_members}
    if shape.type_name == "list":
        return [_plausible(shape.member)]
    if shape.type_name in {"integer", "long"}:
        return 1
    if shape.type_name == "boolean":
        return True
    return shape.enum[0] if getattr(shape, "enum", None) else "x"


def test_agent_calls_with_the_aws_cli(server: ServerProcess, ecs: Any, host: str) -> None:
    arn = run_one(ecs)

    def cli(*args: str) -> dict[str, Any]:
        return aws_json(server.endpoint, "ecs", *args)

    assert (
        cli("discover-poll-endpoint", "--cluster", "stage01")["endpoint"] == server.endpoint + "/"
    )
    containers = json.dumps([{"containerName": "web", "status": "RUNNING", "runtimeId": "abc"}])
    done = cli(
        "submit-task-state-change",
        "--cluster",
        "stage01",
        "--task",
        arn,
        "--status",
        "RUNNING",
        "--containers",
        containers,
    )
    assert done["acknowledgment"] == "ACK"
    done = cli(
        "submit-container-state-change",
        "--cluster",
        "stage01",
        "--task",
        arn,
        "--container-name",
        "web",
        "--status",
        "STOPPED",
        "--exit-code",
        "0",
    )
    assert done["acknowledgment"] == "ACK"
    task = describe(ecs, arn)
    assert task["lastStatus"] == "RUNNING" and task["containers"][0]["runtimeId"] == "abc"
    assert (task["containers"][0]["lastStatus"], task["containers"][0]["exitCode"]) == (
        "STOPPED",
        0,
    )
    bad = aws_error(
        server.endpoint,
        "ecs",
        "submit-attachment-state-changes",
        "--cluster",
        "stage01",
        "--attachments",
        "attachmentArn=arn:aws:ecs:us-east-1:000000000000:attachment/x,status=ATTACHED",
    )
    assert "InvalidParameterException" in bad
