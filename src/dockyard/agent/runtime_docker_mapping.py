"""Pure translation between Dockyard's runtime types and Docker Engine API JSON.

`create_config` turns a `ContainerSpec` (with host ports already assigned) into the body
of POST /containers/create; `state_from_inspect` and `event_from_docker` read the
engine's answers; `start_error` classifies a failed start. No I/O: `runtime_docker`
does the calls, tests check these functions with plain dicts.

ECS -> Docker, as the ECS agent maps them:
    cpu                -> HostConfig.CpuShares (at least 2: 0 would mean 1024 to Docker)
    task-level cpu     -> HostConfig.NanoCpus (hard ceiling, at most the engine's CPUs)
    awsvpc             -> HostConfig.NetworkMode "container:<network owner id>"
    memory             -> HostConfig.Memory (bytes, hard limit)
    memoryReservation  -> HostConfig.MemoryReservation (bytes, soft limit)
    portMappings       -> ExposedPorts + HostConfig.PortBindings (HostIp, HostPort)
    links              -> HostConfig.Links "name:alias" (default bridge network only)
    ulimits            -> HostConfig.Ulimits
    healthCheck        -> Healthcheck (durations in nanoseconds)
    entryPoint/command -> Entrypoint/Cmd; environment -> Env "K=V"
    dockerLabels       -> Labels, under Dockyard's own labels
    stopTimeout        -> StopTimeout (also honoured by a manual `docker stop`)
    initProcessEnabled -> HostConfig.Init (docker-init reaps and forwards SIGTERM)
    logConfiguration   -> HostConfig.LogConfig (awslogs as json-file: agent/logs_shipper.py)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.runtime import (
    MIN_CPU_SHARES,
    CannotStartContainerError,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    EventAction,
    HealthStatus,
    HostPortInUseError,
    PortBinding,
    PortMapping,
    PortProtocol,
    RuntimeEvent,
)

MIB = 1024 * 1024
NANOS = 1_000_000_000
MIN_NANO_CPUS = NANOS // 100  # Docker's smallest --cpus (0.01)

# Docker's status -> ours. A paused or restarting container still holds its resources.
_STATUS: dict[str, ContainerStatus] = {
    "created": "created",
    "running": "running",
    "paused": "running",
    "restarting": "running",
    "removing": "exited",
    "exited": "exited",
    "dead": "exited",
}
_HEALTH: dict[str, HealthStatus] = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}
_EVENT_ACTIONS: dict[str, EventAction] = {
    "create": "create",
    "start": "start",
    "die": "die",
    "oom": "oom",
    "health_status": "health_status",
    "destroy": "destroy",
}
# Event attributes that Docker adds next to the container's labels.
_EVENT_ATTRIBUTES = frozenset(("name", "image", "exitCode", "signal", "execDuration"))
# "... listen tcp4 127.0.1.1:50200: bind: address already in use"
# "... Bind for 127.0.1.1:50123 failed: port is already allocated"
_PORT_IN_USE = re.compile(
    r"(?::(?P<port>\d+): bind: address already in use)"
    r"|(?::(?P<port2>\d+) failed: port is already allocated)"
    r"|address already in use|port is already allocated"
)


def create_config(
    spec: ContainerSpec, ports: tuple[PortMapping, ...], host_cpus: int | None = None
) -> dict[str, Any]:
    """POST /containers/create body; every port in `ports` has its host port assigned.
    `host_cpus` (the engine's NCPU) caps the CPU ceiling: Docker refuses a larger one."""
    exposed: dict[str, dict[str, str]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for mapping in ports:
        if not mapping.host_port:
            raise ValueError(f"host port of {mapping} not assigned")
        key = f"{mapping.container_port}/{mapping.protocol}"
        exposed[key] = {}
        bindings.setdefault(key, []).append(
            {"HostIp": mapping.host_ip, "HostPort": str(mapping.host_port)}
        )
    host_config: dict[str, Any] = {
        "NetworkMode": spec.network_mode or "bridge",
        "CpuShares": max(spec.cpu_shares, MIN_CPU_SHARES),
    }
    joined = spec.network_mode is not None and spec.network_mode.startswith("container:")
    if not joined:  # Docker refuses even empty port maps with another container's network
        host_config["PortBindings"] = bindings
    if spec.cpu_limit_units:
        host_config["NanoCpus"] = nano_cpus(spec.cpu_limit_units, host_cpus)
    if spec.memory_mib is not None:
        host_config["Memory"] = spec.memory_mib * MIB
    if spec.memory_reservation_mib is not None:
        host_config["MemoryReservation"] = spec.memory_reservation_mib * MIB
    if spec.init_process_enabled:
        host_config["Init"] = True
    if spec.log_driver:
        host_config["LogConfig"] = {"Type": spec.log_driver, "Config": dict(spec.log_options)}
    if spec.links:
        host_config["Links"] = [f"{target}:{alias}" for target, alias in spec.links]
    if spec.ulimits:
        host_config["Ulimits"] = [
            {"Name": u.name, "Soft": u.soft_limit, "Hard": u.hard_limit} for u in spec.ulimits
        ]
    config: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{key}={value}" for key, value in spec.environment.items()],
        "Labels": spec.all_labels(),
        "StopTimeout": math.ceil(spec.stop_timeout_s),
        "HostConfig": host_config,
    }
    optional: dict[str, Any] = {
        "Cmd": list(spec.command) if spec.command else None,
        "Entrypoint": list(spec.entry_point) if spec.entry_point else None,
        "WorkingDir": spec.working_directory,
        "User": spec.user,
        "Hostname": spec.hostname,
    }
    config.update({key: value for key, value in optional.items() if value})
    if not joined:
        config["ExposedPorts"] = exposed
    if spec.health_check is not None:
        check = spec.health_check
        config["Healthcheck"] = {
            "Test": list(check.command),
            "Interval": int(check.interval_s * NANOS),
            "Timeout": int(check.timeout_s * NANOS),
            "Retries": check.retries,
            "StartPeriod": int(check.start_period_s * NANOS),
        }
    return config


def nano_cpus(cpu_units: int, host_cpus: int | None = None) -> int:
    """ECS cpu units (1024 per vCPU) as Docker's NanoCpus, between Docker's floor (0.01 CPU)
    and the engine's CPUs (Docker refuses more than it has; a 4-vCPU task on a 2-CPU host
    gets the whole host)."""
    nanos = cpu_units * NANOS // 1024
    if host_cpus:
        nanos = min(nanos, host_cpus * NANOS)
    return max(nanos, MIN_NANO_CPUS)


def state_from_inspect(data: Mapping[str, Any]) -> ContainerState:
    """GET /containers/{id}/json -> ContainerState."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    status = _STATUS.get(state.get("Status", ""), "exited")
    health = (state.get("Health") or {}).get("Status", "")
    return ContainerState(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        status=status,
        image=config.get("Image", ""),
        exit_code=int(state.get("ExitCode", 0)) if status == "exited" else None,
        started_at=parse_docker_time(state.get("StartedAt")),
        finished_at=parse_docker_time(state.get("FinishedAt")) if status == "exited" else None,
        health_status=_HEALTH.get(health, "UNKNOWN"),
        ports=_bindings(data),
        error=state.get("Error") or None,
        oom_killed=bool(state.get("OOMKilled")),
        network_mode=str((data.get("HostConfig") or {}).get("NetworkMode") or ""),
    )


def _bindings(data: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    """Bound ports: from NetworkSettings while running, else the requested HostConfig ones
    (Dockyard never asks Docker to choose, so requested == bound)."""
    live = (data.get("NetworkSettings") or {}).get("Ports") or {}
    requested = (data.get("HostConfig") or {}).get("PortBindings") or {}
    source = live if any(live.values()) else requested
    result: list[PortBinding] = []
    for key, hosts in sorted(source.items()):
        port, _, proto = key.partition("/")
        protocol: PortProtocol = "udp" if proto == "udp" else "tcp"
        for host in hosts or ():
            if host.get("HostPort"):
                result.append(
                    PortBinding(int(port), protocol, host.get("HostIp", ""), int(host["HostPort"]))
                )
    return tuple(result)


def parse_docker_time(value: str | None) -> float | None:
    """RFC 3339 with nanoseconds ("2024-05-01T10:00:00.123456789Z") -> epoch seconds;
    Docker's zero time ("0001-01-01T00:00:00Z") -> None."""
    if not value or value.startswith("0001-"):
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return stamp.astimezone(UTC).timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def event_from_docker(raw: Mapping[str, Any]) -> RuntimeEvent | None:
    """One decoded /events message -> RuntimeEvent; None for actions the agent ignores."""
    action_text = str(raw.get("Action") or raw.get("status") or "")
    name, _, detail = action_text.partition(":")
    action = _EVENT_ACTIONS.get(name)
    if raw.get("Type", "container") != "container" or action is None:
        return None
    actor = raw.get("Actor") or {}
    attributes: Mapping[str, str] = actor.get("Attributes") or {}
    nanos = raw.get("timeNano")
    exit_code = attributes.get("exitCode")
    return RuntimeEvent(
        container_id=str(actor.get("ID") or raw.get("id", "")),
        labels={k: v for k, v in attributes.items() if k not in _EVENT_ATTRIBUTES},
        action=action,
        time=nanos / NANOS if isinstance(nanos, int) else float(raw.get("time", 0)),
        exit_code=int(exit_code) if action == "die" and exit_code is not None else None,
        health_status=_HEALTH.get(detail.strip(), "UNKNOWN") if action == "health_status" else None,
    )


def start_error(message: str) -> CannotStartContainerError:
    """Classify the engine's answer to a failed start."""
    match = _PORT_IN_USE.search(message)
    if match is None:
        return CannotStartContainerError(message)
    port = match.group("port") or match.group("port2")
    return HostPortInUseError(message, int(port) if port else None)
