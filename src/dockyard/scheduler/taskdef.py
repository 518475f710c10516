"""Task definition JSON -> `TaskRequest`, accounted as ECS accounts it.

Role: the one place that knows how much of an instance a task definition
reserves. Reads the botocore TaskDefinition shape (as DescribeTaskDefinition
returns it) plus RunTask/StartTask `overrides`:

* cpu: task-level `cpu` ("256", "1 vCPU", "0.5 vcpu") when present, else the
  sum of container `cpu` (missing = 0);
* memory: task-level `memory` ("512", "1 GB", "0.5GB") when present, else the sum
  over containers of `memoryReservation` if set, else `memory` (hard limit);
* containerOverrides (name, cpu, memory, memoryReservation) replace those
  container fields first; a task-level override (`overrides.cpu/memory`) wins;
* ports: `bridge` (default) - hostPort 0/missing is dynamic, any other hostPort is
  static; `host` - the host port is the containerPort; `awsvpc`/`none` - no host
  ports. `containerPortRange` ("8000-8010") counts one dynamic/static port each;
* awsvpc: one address of the instance's pool (`enis`, RESOURCE:ENI when none is left).

GPUs and other resourceRequirements are not scheduled yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidParameterException
from dockyard.wire import amounts

from .model import DEFAULT_DYNAMIC_PORT_RANGE, TaskRequest


def parse_cpu(value: object) -> int:
    """CPU units (wire/amounts.py); InvalidParameterException when not an amount."""
    try:
        return amounts.parse_cpu(value)
    except ValueError as error:
        raise InvalidParameterException(str(error)) from None


def parse_memory(value: object) -> int:
    """MiB (wire/amounts.py); InvalidParameterException when not an amount."""
    try:
        return amounts.parse_memory(value)
    except ValueError as error:
        raise InvalidParameterException(str(error)) from None


def task_request_from_definition(
    task_definition: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    group: str | None = None,
    *,
    dynamic_port_range: tuple[int, int] = DEFAULT_DYNAMIC_PORT_RANGE,
) -> TaskRequest:
    """Build the placement request for one task of `task_definition`.

    `group` defaults to ECS's `family:<family>`.
    """
    family = str(task_definition.get("family", ""))
    containers = _apply_overrides(
        task_definition.get("containerDefinitions") or [],
        (overrides or {}).get("containerOverrides") or [],
    )
    task_cpu = (overrides or {}).get("cpu") or task_definition.get("cpu")
    task_memory = (overrides or {}).get("memory") or task_definition.get("memory")
    cpu = parse_cpu(task_cpu) if task_cpu else sum(int(c.get("cpu") or 0) for c in containers)
    if task_memory:
        memory = parse_memory(task_memory)
    else:
        memory = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
    mode = str(task_definition.get("networkMode") or "bridge")
    ports = _host_ports(containers, mode)
    return TaskRequest(
        task_definition=str(task_definition.get("taskDefinitionArn") or family),
        cpu=cpu,
        memory=memory,
        group=group or f"family:{family}",
        ports_tcp=frozenset(ports["tcp"]),
        ports_udp=frozenset(ports["udp"]),
        dynamic_ports_tcp=ports["dynamic_tcp"],
        dynamic_ports_udp=ports["dynamic_udp"],
        dynamic_port_range=dynamic_port_range,
        enis=1 if mode == "awsvpc" else 0,
    )


def _apply_overrides(
    containers: Sequence[Mapping[str, Any]], container_overrides: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    merged = {str(c.get("name", "")): dict(c) for c in containers}
    for override in container_overrides:
        name = str(override.get("name", ""))
        if name not in merged:
            raise InvalidParameterException(
                f"Override for container named {name} is not a container in the TaskDefinition."
            )
        for key in ("cpu", "memory", "memoryReservation"):
            if override.get(key) is not None:
                merged[name][key] = override[key]
    return list(merged.values())


def _host_ports(containers: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"tcp": set(), "udp": set(), "dynamic_tcp": 0, "dynamic_udp": 0}
    if mode in ("awsvpc", "none"):
        return out
    for container in containers:
        for mapping in container.get("portMappings") or []:
            proto = str(mapping.get("protocol") or "tcp").lower()
            if proto not in ("tcp", "udp"):
                raise InvalidParameterException(f"Invalid port mapping protocol {proto!r}.")
            container_ports = _container_ports(mapping)
            if mode == "host":
                host_port = mapping.get("hostPort")
                out[proto].update([int(host_port)] if host_port else container_ports)
            elif mapping.get("hostPort"):
                out[proto].add(int(mapping["hostPort"]))
            else:
                out[f"dynamic_{proto}"] += len(container_ports)
    return out


def _container_ports(mapping: Mapping[str, Any]) -> list[int]:
    if mapping.get("containerPort"):
        return [int(mapping["containerPort"])]
    port_range = str(mapping.get("containerPortRange") or "")
    low, sep, high = port_range.partition("-")
    if sep and low.strip().isdigit() and high.strip().isdigit():
        return list(range(int(low), int(high) + 1))
    return []
