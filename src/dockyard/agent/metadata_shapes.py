"""The task metadata endpoint's JSON, as AWS documents it for the EC2 launch type (pure).

    ${ECS_CONTAINER_METADATA_URI_V4}             this container      (`container_json`)
    ${ECS_CONTAINER_METADATA_URI_V4}/task        the task + its containers (`task_json`)
    ${ECS_CONTAINER_METADATA_URI_V4}/stats       Docker stats of this container
    ${ECS_CONTAINER_METADATA_URI_V4}/task/stats  {docker id: stats} of the task's containers

and the same paths under ${ECS_CONTAINER_METADATA_URI} (v3: without the fields v4 added:
LaunchType, ServiceName, ContainerARN, LogDriver, LogOptions). Field names, optionality
and types follow the ECS agent's responses (Revision is a string, task Limits.CPU is in
vCPUs, container Limits.CPU in CPU units, timestamps RFC 3339 with nanoseconds).

Inputs are plain snapshots (`TaskFacts`, `ContainerFacts`) that agent/metadata.py
builds from the task worker's state, the task definition and Docker's inspect; the
functions here decide nothing else, so table-driven tests cover them without Docker.
Also pure: the per-container token (`container_token`), the request router
(`parse_path`) and the Docker bridge gateway (`bridge_gateway`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Version = Literal["v3", "v4"]
Resource = Literal["container", "task", "stats", "task_stats"]

# ECS puts these on every container it starts; clients (e.g. log routers) read them.
ECS_LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
ECS_LABEL_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
ECS_LABEL_TASK_ARN = "com.amazonaws.ecs.task-arn"
ECS_LABEL_FAMILY = "com.amazonaws.ecs.task-definition-family"
ECS_LABEL_REVISION = "com.amazonaws.ecs.task-definition-version"

_RESOURCES: dict[tuple[str, ...], Resource] = {
    (): "container",
    ("task",): "task",
    ("stats",): "stats",
    ("task", "stats"): "task_stats",
}


@dataclass(frozen=True, slots=True)
class PortFacts:
    container_port: int
    protocol: str
    host_port: int
    host_ip: str


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """One container as the agent knows it; `docker_id` is "" before it was created."""

    name: str
    docker_name: str
    image: str
    desired_status: str
    known_status: str
    cpu: int = 0  # CPU units
    memory: int = 0  # MiB, hard limit (0: none)
    docker_id: str = ""
    image_id: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    created_at: str | None = None  # Docker's RFC 3339 strings, passed through
    started_at: str | None = None
    finished_at: str | None = None
    container_arn: str | None = None
    log_driver: str | None = None
    log_options: Mapping[str, str] = field(default_factory=dict)
    network_mode: str = "bridge"
    ipv4_addresses: tuple[str, ...] = ()
    ports: tuple[PortFacts, ...] = ()
    health_status: str | None = None  # only for containers with a health check


@dataclass(frozen=True, slots=True)
class TaskFacts:
    cluster: str
    task_arn: str
    family: str
    revision: str
    desired_status: str
    known_status: str
    containers: tuple[ContainerFacts, ...]
    cpu: str | None = None  # the task definition's task-level cpu (units) and memory (MiB)
    memory: str | None = None
    pull_started_at: float | None = None  # epoch seconds
    pull_stopped_at: float | None = None
    execution_stopped_at: float | None = None
    availability_zone: str | None = None
    service_name: str | None = None


def rfc3339(epoch: float) -> str:
    """Epoch seconds -> "2020-10-02T00:43:06.202617Z" (Go's RFC3339Nano trims zeros too)."""
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp.rstrip("0").rstrip(".") + "Z"


def docker_time(value: Any) -> str | None:
    """Docker's timestamp, or None for its zero time ("0001-01-01T00:00:00Z") and absent."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    return value


def ecs_labels(task: TaskFacts, container: ContainerFacts) -> dict[str, str]:
    cluster_name = task.cluster.rsplit("/", 1)[-1]
    return {
        ECS_LABEL_CLUSTER: cluster_name,
        ECS_LABEL_CONTAINER_NAME: container.name,
        ECS_LABEL_TASK_ARN: task.task_arn,
        ECS_LABEL_FAMILY: task.family,
        ECS_LABEL_REVISION: task.revision,
    }


def container_json(task: TaskFacts, container: ContainerFacts, version: Version) -> dict[str, Any]:
    """The container object (alone at ${URI}, in Containers at ${URI}/task)."""
    out: dict[str, Any] = {
        "DockerId": container.docker_id,
        "Name": container.name,
        "DockerName": container.docker_name,
        "Image": container.image,
        "ImageID": container.image_id,
    }
    if container.ports:
        out["Ports"] = [
            {
                "ContainerPort": p.container_port,
                "Protocol": p.protocol,
                "HostPort": p.host_port,
                **({"HostIp": p.host_ip} if p.host_ip else {}),
            }
            for p in container.ports
        ]
    out["Labels"] = {**container.labels, **ecs_labels(task, container)}
    out["DesiredStatus"] = container.desired_status
    out["KnownStatus"] = container.known_status
    if container.exit_code is not None:
        out["ExitCode"] = container.exit_code
    out["Limits"] = {"CPU": container.cpu, "Memory": container.memory}
    for key, value in (
        ("CreatedAt", container.created_at),
        ("StartedAt", container.started_at),
        ("FinishedAt", container.finished_at),
    ):
        if value:
            out[key] = value
    out["Type"] = "NORMAL"
    if version == "v4":
        if container.log_driver:
            out["LogDriver"] = container.log_driver
            out["LogOptions"] = dict(container.log_options)
        if container.container_arn:
            out["ContainerARN"] = container.container_arn
    if container.health_status:
        out["Health"] = {"status": container.health_status}
    if container.docker_id:
        network: dict[str, Any] = {"NetworkMode": container.network_mode}
        if container.ipv4_addresses:
            network["IPv4Addresses"] = list(container.ipv4_addresses)
        out["Networks"] = [network]
    return out


def task_limits(cpu: str | None, memory: str | None) -> dict[str, float | int] | None:
    """Task-level Limits: CPU in vCPUs (1024 units each), Memory in MiB; None if neither."""
    limits: dict[str, float | int] = {}
    if cpu and cpu.strip().isdigit():
        limits["CPU"] = int(cpu) / 1024
    if memory and memory.strip().isdigit():
        limits["Memory"] = int(memory)
    return limits or None


def task_json(task: TaskFacts, version: Version) -> dict[str, Any]:
    """The ${URI}/task object."""
    out: dict[str, Any] = {
        "Cluster": task.cluster,
        "TaskARN": task.task_arn,
        "Family": task.family,
        "Revision": task.revision,
        "DesiredStatus": task.desired_status,
        "KnownStatus": task.known_status,
    }
    if version == "v4" and task.service_name:
        out["ServiceName"] = task.service_name
    limits = task_limits(task.cpu, task.memory)
    if limits is not None:
        out["Limits"] = limits
    for key, epoch in (
        ("PullStartedAt", task.pull_started_at),
        ("PullStoppedAt", task.pull_stopped_at),
        ("ExecutionStoppedAt", task.execution_stopped_at),
    ):
        if epoch is not None:
            out[key] = rfc3339(epoch)
    if task.availability_zone:
        out["AvailabilityZone"] = task.availability_zone
    if version == "v4":
        out["LaunchType"] = "EC2"
    out["Containers"] = [container_json(task, c, version) for c in task.containers]
    return out


def task_stats_json(
    containers: Sequence[ContainerFacts], stats: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """${URI}/task/stats: Docker stats per docker id (null while a container has none)."""
    return {c.docker_id: stats.get(c.docker_id) for c in containers if c.docker_id}


def with_previous(sample: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A one-shot Docker sample has empty precpu_stats; fill them (and `preread`) from the
    previous sample of the same container so clients can compute CPU % as with a stream."""
    out = dict(sample)
    if previous is not None and previous.get("read") != sample.get("read"):
        out["precpu_stats"] = previous.get("cpu_stats", {})
        out["preread"] = previous.get("read", out.get("preread"))
    return out


def container_token(secret: bytes, task_arn: str, container_name: str) -> str:
    """The unguessable path element of one container's URI: HMAC of the agent's secret
    (kept in its data dir, so a restarted agent serves the URIs its containers hold)."""
    message = f"{task_arn}\0{container_name}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:40]


def parse_path(path: str) -> tuple[Version, str, Resource] | None:
    """ "/v4/<token>/task/stats" -> ("v4", token, "task_stats"); None when not a route."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("v3", "v4"):
        return None
    resource = _RESOURCES.get(tuple(parts[2:]))
    if resource is None:
        return None
    version: Version = "v4" if parts[0] == "v4" else "v3"
    return version, parts[1], resource


def bridge_gateway(network: Mapping[str, Any]) -> str | None:
    """The host's address on Docker's "bridge" network (`docker network inspect bridge`):
    IPAM's Gateway, else the subnet's first address (what dockerd gives docker0)."""
    for config in (network.get("IPAM") or {}).get("Config") or ():
        gateway = config.get("Gateway")
        if gateway:
            return str(gateway).split("/", 1)[0]
        subnet = config.get("Subnet")
        if subnet:
            try:
                net = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                continue
            if net.version == 4 and net.num_addresses > 2:
                return str(net.network_address + 1)
    return None


def metadata_env(base_url: str, token: str) -> dict[str, str]:
    """The variables a container gets (base_url: "http://172.17.0.1:PORT")."""
    return {
        "ECS_CONTAINER_METADATA_URI_V4": f"{base_url}/v4/{token}",
        "ECS_CONTAINER_METADATA_URI": f"{base_url}/v3/{token}",
    }
