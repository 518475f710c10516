"""FARGATE on Dockyard's hosts: task-level cpu/memory rules and the launch type.

AWS runs a FARGATE task on capacity it manages; Dockyard runs it on any container
instance that fits (or, with a capacity provider named FARGATE, on that provider's
instances), reserving the task-level cpu and memory. What ECS checks, and Dockyard
with it:

    RegisterTaskDefinition  requiresCompatibilities FARGATE -> networkMode awsvpc,
                            task-level cpu and memory, one of Fargate's combinations
    RunTask / CreateService launchType FARGATE -> the definition is FARGATE-compatible
                            (`compatibilities` holds FARGATE) and uses awsvpc

Enforcement on the host (agent/task_worker.py): the task-level memory is each
container's hard limit when the container sets none, and the task's cpu is split
over containers without cpu as CPU shares (Docker has no per-task cgroup here).
Pure: no store, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.errors import ClientException, InvalidParameterException

# What RunTask, StartTask, CreateService and CreateTaskSet accept; FARGATE runs on any
# instance that fits. EXTERNAL (ECS Anywhere) is refused: every host is a container instance.
LAUNCH_TYPES = ("EC2", "FARGATE")


def _steps(low: int, high: int, step: int) -> frozenset[int]:
    return frozenset(range(low, high + 1, step))


# Task cpu units -> allowed task memory (MiB), as AWS's Fargate table lists them.
COMBINATIONS: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}


def fargate_fits(network_mode: str, cpu: int | None, memory: int | None) -> bool:
    return network_mode == "awsvpc" and cpu in COMBINATIONS and memory in COMBINATIONS[cpu]


def check_fargate_definition(
    params: Mapping[str, Any], task_cpu: int | None, task_memory: int | None
) -> None:
    """RegisterTaskDefinition with requiresCompatibilities FARGATE."""
    if "FARGATE" not in params.get("requiresCompatibilities", []):
        return
    if params.get("networkMode", "bridge") != "awsvpc":
        raise ClientException("Fargate only supports network mode 'awsvpc'.")
    if task_cpu is None:
        raise ClientException("Fargate requires that 'cpu' be defined at the task level.")
    if task_memory is None:
        raise ClientException("Fargate requires that 'memory' be defined at the task level.")
    if not fargate_fits("awsvpc", task_cpu, task_memory):
        raise ClientException(
            f"No Fargate configuration exists for given values: {task_cpu} CPU, "
            f"{task_memory} memory. See the Amazon ECS documentation for the valid values."
        )


def compatibilities(network_mode: str, task_cpu: int | None, task_memory: int | None) -> list[str]:
    """The definition's `compatibilities` as ECS computes them."""
    out = ["EC2", "EXTERNAL"]
    if fargate_fits(network_mode, task_cpu, task_memory):
        out.append("FARGATE")
    return out


def check_launch_type(definition: Mapping[str, Any], launch_type: str) -> None:
    """RunTask, StartTask, CreateService, CreateTaskSet: a launch type Dockyard runs, and
    one that suits the definition."""
    if launch_type not in LAUNCH_TYPES:
        raise InvalidParameterException(
            f"launchType {launch_type} is not supported: Dockyard runs tasks on EC2-style "
            "container instances (launchType EC2 or FARGATE)."
        )
    if launch_type == "FARGATE" and "FARGATE" not in definition.get("compatibilities", []):
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
