"""Task metadata endpoint shapes (agent/metadata_shapes.py), table-driven, no Docker."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.agent import metadata_shapes as shapes

TASK_ARN = "arn:aws:ecs:us-east-1:000000000000:task/stage01/0123456789abcdef0123456789abcdef"
CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/stage01"

WEB = shapes.ContainerFacts(
    name="web",
    docker_name="dockyard-0123456789abcdef0123456789abcdef-web",
    image="dockyard-demo/web:1",
    desired_status="RUNNING",
    known_status="RUNNING",
    cpu=128,
    memory=128,
    docker_id="ab" * 32,
    image_id="sha256:" + "cd" * 32,
    labels={"team": "platform", "com.dockyard.task-arn": TASK_ARN},
    created_at="2024-05-01T10:00:00.123456789Z",
    started_at="2024-05-01T10:00:00.5Z",
    container_arn="arn:aws:ecs:us-east-1:000000000000:container/stage01/abc/def",
    log_driver="awslogs",
    log_options={"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"},
    ipv4_addresses=("172.17.0.5",),
    ports=(shapes.PortFacts(8080, "tcp", 49160, "127.0.1.1"),),
    health_status="HEALTHY",
)
SIDE = shapes.ContainerFacts(
    name="side",
    docker_name="dockyard-0123456789abcdef0123456789abcdef-side",
    image="dockyard-test/busybox:1",
    desired_status="RUNNING",
    known_status="PENDING",
)
TASK = shapes.TaskFacts(
    cluster=CLUSTER,
    task_arn=TASK_ARN,
    family="web",
    revision="3",
    desired_status="RUNNING",
    known_status="RUNNING",
    containers=(WEB, SIDE),
    cpu="256",
    memory="512",
    pull_started_at=1714557600.25,
    pull_stopped_at=1714557601.0,
    availability_zone="az-1",
    service_name="web",
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v4/tok", ("v4", "tok", "container")),
        ("/v4/tok/", ("v4", "tok", "container")),
        ("/v4/tok/task", ("v4", "tok", "task")),
        ("/v4/tok/stats", ("v4", "tok", "stats")),
        ("/v4/tok/task/stats", ("v4", "tok", "task_stats")),
        ("/v3/tok/task", ("v3", "tok", "task")),
        ("/v2/tok/task", None),
        ("/v4", None),
        ("/", None),
        ("/v4/tok/stats/task", None),
        ("/v4/tok/task/stats/x", None),
        ("/v4/tok/credentials", None),
    ],
)
def test_parse_path(path: str, expected: Any) -> None:
    assert shapes.parse_path(path) == expected


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            {"IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}},
            "172.17.0.1",
        ),
        ({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}, "172.17.0.1"),  # dockerd 20.10
        ({"IPAM": {"Config": [{"Subnet": "10.200.0.0/24"}]}}, "10.200.0.1"),
        (
            {"IPAM": {"Config": [{"Subnet": "fd00::/64"}, {"Subnet": "172.18.0.0/16"}]}},
            "172.18.0.1",
        ),
        ({"IPAM": {"Config": [{"Subnet": "nonsense"}]}}, None),
        ({"IPAM": {"Config": None}}, None),
        ({}, None),
    ],
)
def test_bridge_gateway(network: dict[str, Any], expected: str | None) -> None:
    assert shapes.bridge_gateway(network) == expected


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (1714557600.0, "2024-05-01T10:00:00Z"),
        (1714557600.25, "2024-05-01T10:00:00.25Z"),
        (1714557600.123456, "2024-05-01T10:00:00.123456Z"),
    ],
)
def test_rfc3339(epoch: float, text: str) -> None:
    assert shapes.rfc3339(epoch) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456789Z"),
        ("0001-01-01T00:00:00Z", None),  # Docker's zero time: never started
        ("", None),
        (None, None),
    ],
)
def test_docker_time(value: Any, expected: str | None) -> None:
    assert shapes.docker_time(value) == expected


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        ("256", "512", {"CPU": 0.25, "Memory": 512}),
        ("1024", None, {"CPU": 1.0}),
        (None, "300", {"Memory": 300}),
        (None, None, None),  # omitted when the definition sets neither
        ("0.5 vCPU", None, None),
    ],
)
def test_task_limits(cpu: str | None, memory: str | None, expected: Any) -> None:
    assert shapes.task_limits(cpu, memory) == expected


def test_container_v4_has_every_documented_field() -> None:
    body = shapes.container_json(TASK, WEB, "v4")
    assert body == {
        "DockerId": WEB.docker_id,
        "Name": "web",
        "DockerName": WEB.docker_name,
        "Image": "dockyard-demo/web:1",
        "ImageID": WEB.image_id,
        "Ports": [
            {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 49160, "HostIp": "127.0.1.1"}
        ],
        "Labels": {
            "team": "platform",
            "com.dockyard.task-arn": TASK_ARN,
            "com.amazonaws.ecs.cluster": "stage01",
            "com.amazonaws.ecs.container-name": "web",
            "com.amazonaws.ecs.task-arn": TASK_ARN,
            "com.amazonaws.ecs.task-definition-family": "web",
            "com.amazonaws.ecs.task-definition-version": "3",
        },
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 128, "Memory": 128},
        "CreatedAt": "2024-05-01T10:00:00.123456789Z",
        "StartedAt": "2024-05-01T10:00:00.5Z",
        "Type": "NORMAL",
        "LogDriver": "awslogs",
        "LogOptions": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"},
        "ContainerARN": WEB.container_arn,
        "Health": {"status": "HEALTHY"},
        "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.5"]}],
    }


@pytest.mark.parametrize(
    ("container", "version", "present", "absent"),
    [
        (WEB, "v3", {"Networks", "Ports", "Limits"}, {"LogDriver", "LogOptions", "ContainerARN"}),
        (
            SIDE,
            "v4",
            {"Limits", "Labels"},
            {
                "Ports",
                "Networks",
                "CreatedAt",
                "StartedAt",
                "ExitCode",
                "FinishedAt",
                "Health",
                "LogDriver",
            },
        ),
        (
            shapes.ContainerFacts(
                "x",
                "d",
                "i",
                "STOPPED",
                "STOPPED",
                docker_id="e" * 64,
                exit_code=137,
                finished_at="2024-05-01T10:01:00Z",
            ),
            "v4",
            {"ExitCode", "FinishedAt", "Networks"},
            {"Ports", "ContainerARN"},
        ),
    ],
)
def test_container_optional_fields(
    container: shapes.ContainerFacts, version: Any, present: set[str], absent: set[str]
) -> None:
    body = shapes.container_json(TASK, container, version)
    assert present <= body.keys()
    assert not absent & body.keys()


def test_container_not_created_yet_has_zero_limits_and_empty_id() -> None:
    body = shapes.container_json(TASK, SIDE, "v4")
    assert body["DockerId"] == "" and body["ImageID"] == ""
    assert body["Limits"] == {"CPU": 0, "Memory": 0}
    assert body["KnownStatus"] == "PENDING"


def test_task_v4() -> None:
    body = shapes.task_json(TASK, "v4")
    assert list(body) == [
        "Cluster", "TaskARN", "Family", "Revision", "DesiredStatus", "KnownStatus",
        "ServiceName", "Limits", "PullStartedAt", "PullStoppedAt", "AvailabilityZone",
        "LaunchType", "Containers",
    ]  # fmt: skip
    assert body["Revision"] == "3"  # a string, as in AWS's answers
    assert body["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert body["PullStartedAt"] == "2024-05-01T10:00:00.25Z"
    assert body["LaunchType"] == "EC2"
    assert [c["Name"] for c in body["Containers"]] == ["web", "side"]
    assert body["Containers"][0] == shapes.container_json(TASK, WEB, "v4")


@pytest.mark.parametrize(
    ("changes", "version", "present", "absent"),
    [
        ({}, "v3", {"Limits", "AvailabilityZone"}, {"LaunchType", "ServiceName"}),
        (
            {"service_name": None, "cpu": None, "memory": None},
            "v4",
            {"LaunchType"},
            {"ServiceName", "Limits"},
        ),
        (
            {"availability_zone": None, "pull_started_at": None, "pull_stopped_at": None},
            "v4",
            set(),
            {"AvailabilityZone", "PullStartedAt", "PullStoppedAt", "ExecutionStoppedAt"},
        ),
        (
            {"execution_stopped_at": 1714557700.0, "known_status": "STOPPED"},
            "v4",
            {"ExecutionStoppedAt"},
            set(),
        ),
    ],
)
def test_task_optional_fields(
    changes: dict[str, Any], version: Any, present: set[str], absent: set[str]
) -> None:
    import dataclasses

    body = shapes.task_json(dataclasses.replace(TASK, **changes), version)
    assert present <= body.keys()
    assert not absent & body.keys()


def test_task_stats_maps_docker_ids_of_created_containers() -> None:
    sample = {"read": "t", "memory_stats": {}, "cpu_stats": {}}
    body = shapes.task_stats_json((WEB, SIDE), {WEB.docker_id: sample})
    assert body == {WEB.docker_id: sample}  # SIDE has no container yet
    missing = shapes.task_stats_json((WEB,), {})
    assert missing == {WEB.docker_id: None}


def test_with_previous_fills_precpu_from_the_last_sample() -> None:
    first = {"read": "t1", "cpu_stats": {"cpu_usage": {"total_usage": 10}}, "precpu_stats": {}}
    second = {"read": "t2", "cpu_stats": {"cpu_usage": {"total_usage": 30}}, "precpu_stats": {}}
    assert shapes.with_previous(first, None) == first
    merged = shapes.with_previous(second, first)
    assert merged["precpu_stats"] == first["cpu_stats"] and merged["preread"] == "t1"
    assert shapes.with_previous(second, second)["precpu_stats"] == {}  # same read: no delta


def test_tokens_are_per_container_per_task_per_agent() -> None:
    secret, other = b"s" * 32, b"o" * 32
    token = shapes.container_token(secret, TASK_ARN, "web")
    assert token == shapes.container_token(secret, TASK_ARN, "web")  # stable across restarts
    assert len(token) == 40 and all(c in "0123456789abcdef" for c in token)
    assert len({
        token,
        shapes.container_token(secret, TASK_ARN, "side"),
        shapes.container_token(secret, TASK_ARN + "0", "web"),
        shapes.container_token(other, TASK_ARN, "web"),
    }) == 4  # fmt: skip


def test_metadata_env() -> None:
    assert shapes.metadata_env("http://172.17.0.1:40000", "tok") == {
        "ECS_CONTAINER_METADATA_URI_V4": "http://172.17.0.1:40000/v4/tok",
        "ECS_CONTAINER_METADATA_URI": "http://172.17.0.1:40000/v3/tok",
    }
