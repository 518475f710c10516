"""ECS's own rules for a task definition, beyond what the botocore model checks.

Pure: `check_task_definition(params)` raises ClientException with ECS's wording
and `normalize_container(container, network_mode)` fills the defaults ECS shows
in DescribeTaskDefinition (essential true, cpu 0, hostPort 0 in bridge mode...).
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.errors import ClientException, InvalidParameterException
from dockyard.scheduler.taskdef import parse_cpu, parse_memory
from dockyard.tasks.fargate import check_fargate_definition

FAMILY = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
NETWORK_MODES = {"bridge", "host", "awsvpc", "none"}
PROTOCOLS = {"tcp", "udp"}
MIN_CONTAINER_MEMORY = 6  # MiB; Docker refuses less
TASK_CPU_RANGE = (128, 196608)  # units, for tasks on EC2 instances
CONTAINER_CPU_MAX = 196608
ULIMITS = {
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
}  # fmt: skip
DEPENDENCY_CONDITIONS = {"START", "COMPLETE", "SUCCESS", "HEALTHY"}
COMPATIBILITIES = {"EC2", "EXTERNAL", "FARGATE", "MANAGED_INSTANCES"}
HEALTH_BOUNDS = {
    "interval": (5, 300),
    "timeout": (2, 60),
    "retries": (1, 10),
    "startPeriod": (0, 300),
}


def parse_task_cpu(text: str) -> int:
    """Task-level cpu: "256" (units) or "0.25 vCPU"; -> CPU units."""
    try:
        return parse_cpu(text)
    except InvalidParameterException:
        raise ClientException(
            f"Invalid 'cpu' setting for task: '{text}'. Use CPU units (e.g. '256') or vCPUs "
            "(e.g. '0.25 vCPU')."
        ) from None


def parse_task_memory(text: str) -> int:
    """Task-level memory: "512" (MiB) or "0.5 GB"; -> MiB."""
    try:
        return parse_memory(text)
    except InvalidParameterException:
        raise ClientException(
            f"Invalid 'memory' setting for task: '{text}'. Use MiB (e.g. '512') or GB "
            "(e.g. '0.5 GB')."
        ) from None


def _check_health(name: str, health: dict[str, Any]) -> None:
    command = health.get("command") or []
    if not command or (command[0] in {"CMD", "CMD-SHELL"} and len(command) < 2):
        raise ClientException(
            f"Invalid 'healthCheck' setting for container '{name}'. A command is required, "
            'e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"].'
        )
    for field, (low, high) in HEALTH_BOUNDS.items():
        value = health.get(field)
        if value is not None and not low <= value <= high:
            raise ClientException(
                f"Invalid 'healthCheck' setting for container '{name}'. {field} must be between "
                f"{low} and {high}; got {value}."
            )


def _check_ports(name: str, container: dict[str, Any], network_mode: str) -> list[tuple[int, str]]:
    used: list[tuple[int, str]] = []
    for mapping in container.get("portMappings", []):
        container_port = mapping.get("containerPort")
        if container_port is None and "containerPortRange" not in mapping:
            raise ClientException(
                f"Invalid 'portMappings' setting for container '{name}': containerPort is required."
            )
        if container_port is not None and not 1 <= container_port <= 65535:
            raise ClientException(
                f"Invalid 'portMappings' setting for container '{name}': containerPort "
                f"{container_port} is outside 1-65535."
            )
        host_port = mapping.get("hostPort")
        if host_port is not None and not 0 <= host_port <= 65535:
            raise ClientException(
                f"Invalid 'portMappings' setting for container '{name}': hostPort {host_port} "
                "is outside 0-65535."
            )
        protocol = mapping.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            raise ClientException(
                f"Invalid 'portMappings' setting for container '{name}': protocol must be tcp or "
                f"udp; got '{protocol}'."
            )
        if network_mode in {"host", "awsvpc"} and host_port not in (None, container_port):
            raise ClientException(
                f"When networkMode={network_mode}, the host ports and container ports in port "
                f"mappings must match (container '{name}')."
            )
        effective = host_port if network_mode == "bridge" else container_port
        if effective:
            used.append((effective, protocol))
    return used


def _check_container(
    container: dict[str, Any], network_mode: str, task_has_memory: bool
) -> list[tuple[int, str]]:
    name = container.get("name") or ""
    if not name:
        raise ClientException("Container.name should not be null or empty.")
    if not CONTAINER_NAME.match(name):
        raise ClientException(
            f"Container name '{name}' is invalid: up to 255 letters, numbers, hyphens and "
            "underscores are allowed."
        )
    if not container.get("image"):
        raise ClientException("Container.image should not be null or empty.")
    memory = container.get("memory")
    reservation = container.get("memoryReservation")
    if memory is None and reservation is None and not task_has_memory:
        raise ClientException(
            f"Invalid setting for container '{name}'. At least one of 'memory' or "
            "'memoryReservation' must be specified."
        )
    for field, value in (("memory", memory), ("memoryReservation", reservation)):
        if value is not None and value < MIN_CONTAINER_MEMORY:
            raise ClientException(
                f"Invalid '{field}' setting for container '{name}'. The value must be at least "
                f"{MIN_CONTAINER_MEMORY} MiB; got {value}."
            )
    if memory is not None and reservation is not None and reservation > memory:
        raise ClientException(
            f"Invalid 'memoryReservation' setting for container '{name}'. It must be less than "
            f"or equal to 'memory' ({reservation} > {memory})."
        )
    cpu = container.get("cpu", 0)
    if not 0 <= cpu <= CONTAINER_CPU_MAX:
        raise ClientException(
            f"Invalid 'cpu' setting for container '{name}'. It must be between 0 and "
            f"{CONTAINER_CPU_MAX} CPU units; got {cpu}."
        )
    if "healthCheck" in container:
        _check_health(name, container["healthCheck"])
    if container.get("stopTimeout") is not None and container["stopTimeout"] < 0:
        raise ClientException(f"Invalid 'stopTimeout' for container '{name}': must be >= 0.")
    for ulimit in container.get("ulimits", []):
        if ulimit["name"] not in ULIMITS:
            raise ClientException(
                f"Invalid 'ulimits' setting for container '{name}': unknown ulimit "
                f"'{ulimit['name']}'."
            )
    for variable in container.get("environment", []):
        if not variable.get("name"):
            raise ClientException(
                f"Invalid 'environment' setting for container '{name}': a variable has no name."
            )
    if container.get("links") and network_mode != "bridge":
        raise ClientException(
            f"Links are not supported when networkMode={network_mode} (container '{name}')."
        )
    return _check_ports(name, container, network_mode)


def check_task_definition(params: dict[str, Any]) -> None:
    """Raise ClientException for anything ECS would refuse at RegisterTaskDefinition."""
    family = params["family"]
    if not FAMILY.match(family):
        raise ClientException(
            f"Family '{family}' is invalid: up to 255 letters (uppercase and lowercase), "
            "numbers, hyphens, and underscores are allowed."
        )
    network_mode = params.get("networkMode", "bridge")
    if network_mode not in NETWORK_MODES:
        raise ClientException(
            f"Invalid networkMode '{network_mode}': use bridge, host, awsvpc or none."
        )
    for compatibility in params.get("requiresCompatibilities", []):
        if compatibility not in COMPATIBILITIES:
            raise ClientException(f"Invalid requiresCompatibilities value '{compatibility}'.")
    task_cpu = parse_task_cpu(params["cpu"]) if "cpu" in params else None
    task_memory = parse_task_memory(params["memory"]) if "memory" in params else None
    if task_cpu is not None and not TASK_CPU_RANGE[0] <= task_cpu <= TASK_CPU_RANGE[1]:
        raise ClientException(
            f"Invalid 'cpu' setting for task. It must be between {TASK_CPU_RANGE[0]} and "
            f"{TASK_CPU_RANGE[1]} CPU units; got {task_cpu}."
        )
    if task_memory is not None and task_memory < MIN_CONTAINER_MEMORY:
        raise ClientException(
            f"Invalid 'memory' setting for task. It must be at least {MIN_CONTAINER_MEMORY} MiB."
        )
    containers = params["containerDefinitions"]
    if not containers:
        raise ClientException("Container list cannot be empty.")
    names: set[str] = set()
    host_ports: set[tuple[int, str]] = set()
    for container in containers:
        for port in _check_container(container, network_mode, task_memory is not None):
            if port in host_ports:
                raise ClientException(
                    f"Host port {port[0]}/{port[1]} is used by more than one port mapping in "
                    "this task definition."
                )
            host_ports.add(port)
        if container["name"] in names:
            raise ClientException(f"Duplicate container name '{container['name']}'.")
        names.add(container["name"])
    if not any(c.get("essential", True) for c in containers):
        raise ClientException("A task definition must have at least one essential container.")
    _check_references(containers, names, params)
    _check_totals(containers, task_cpu, task_memory)
    check_fargate_definition(params, task_cpu, task_memory)  # tasks/fargate.py


def _check_references(
    containers: list[dict[str, Any]], names: set[str], params: dict[str, Any]
) -> None:
    volumes = {v.get("name") for v in params.get("volumes", [])}
    by_name = {c["name"]: c for c in containers}
    for container in containers:
        name = container["name"]
        for link in container.get("links", []):
            target = link.split(":", 1)[0]
            if target not in names or target == name:
                raise ClientException(
                    f"Container '{name}' links to '{target}', which is not another container "
                    "of this task definition."
                )
        for dependency in container.get("dependsOn", []):
            target, condition = dependency["containerName"], dependency["condition"]
            if target not in names or target == name:
                raise ClientException(
                    f"Container '{name}' depends on '{target}', which is not another container "
                    "of this task definition."
                )
            if condition not in DEPENDENCY_CONDITIONS:
                raise ClientException(f"Invalid dependsOn condition '{condition}'.")
            if condition == "HEALTHY" and "healthCheck" not in by_name[target]:
                raise ClientException(
                    f"Container '{name}' depends on '{target}' being HEALTHY, but '{target}' has "
                    "no healthCheck."
                )
        for mount in container.get("mountPoints", []):
            if mount.get("sourceVolume") not in volumes:
                raise ClientException(
                    f"Container '{name}' mounts volume '{mount.get('sourceVolume')}', which is "
                    "not defined in the task definition's volumes."
                )


def _check_totals(
    containers: list[dict[str, Any]], task_cpu: int | None, task_memory: int | None
) -> None:
    if task_cpu is not None:
        total_cpu = sum(c.get("cpu", 0) for c in containers)
        if total_cpu > task_cpu:
            raise ClientException(
                f"The total cpu of the containers ({total_cpu}) exceeds the task cpu ({task_cpu})."
            )
    if task_memory is not None:
        for container in containers:
            value = container.get("memory") or container.get("memoryReservation") or 0
            if value > task_memory:
                raise ClientException(
                    f"Invalid 'memory' setting for container '{container['name']}'. The container "
                    f"memory ({value}) must be less than or equal to the task memory "
                    f"({task_memory})."
                )


def normalize_container(container: dict[str, Any], network_mode: str) -> dict[str, Any]:
    """The container as DescribeTaskDefinition shows it, with ECS's defaults filled in."""
    out = dict(container)
    out.setdefault("cpu", 0)
    out.setdefault("essential", True)
    for field in ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"):
        out.setdefault(field, [])
    mappings = []
    for given in out["portMappings"]:
        mapping = dict(given)
        mapping.setdefault("protocol", "tcp")
        if "containerPort" in mapping and "hostPort" not in mapping:
            mapping["hostPort"] = 0 if network_mode == "bridge" else mapping["containerPort"]
        mappings.append(mapping)
    out["portMappings"] = mappings
    return out
