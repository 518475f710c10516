"""How one container of a task is run: its task definition entry -> a `ContainerSpec`. Pure.

`task_worker` gathers the facts (the task's address, network owner, task-level limits, the
ids of containers already started) and runs the spec; this module only decides:

    start order         a container after those it links to or depends on (`ordered`)
    environment         the definition's, then the override's, then Dockyard's own
                        (DOCKYARD_*), then the metadata endpoint's (ECS_CONTAINER_METADATA_URI*)
    cpu                 container cpu as CPU shares (ECS EC2 semantics); without one, its
                        part of the task-level cpu (`cpu_share`)
    task-level cpu      every container's hard ceiling (Docker NanoCpus): the task size, as
                        ECS enforces it; per container, since Docker has no per-task cgroup
                        without a cgroup parent (docs/decisions.md, "awsvpc, FARGATE")
    task-level memory   the hard limit of a container that sets neither memory nor
                        memoryReservation
    awsvpc              NetworkMode container:<owner> with no ports, links or hostname (the
                        owner publishes the ports: agent/netns.py); bridge tasks publish
                        their portMappings on the host address (0: a dynamic port)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.agent.awsvpc import LABEL_AWSVPC_ADDRESS
from dockyard.agent.logs_shipper import docker_log_config
from dockyard.agent.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_INSTANCE,
    ContainerSpec,
    HealthCheck,
    PortMapping,
    Ulimit,
)


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What a container's spec depends on besides its own definition."""

    task_arn: str
    cluster_arn: str
    instance_arn: str
    host_ip: str
    default_stop_timeout_s: float
    definitions: list[dict[str, Any]]  # every containerDefinition (for the cpu split)
    task_cpu: int = 0  # task-level cpu units (0: none)
    task_memory: int = 0  # task-level memory MiB (0: none)
    address: str | None = None  # awsvpc: the task's pool address
    network_mode: str | None = None  # awsvpc: "container:<network owner id>"


def ordered(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start order: a container after those it links to or depends on."""
    by_name = {c["name"]: c for c in containers}
    done: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(container: dict[str, Any]) -> None:
        if container["name"] in seen:
            return
        seen.add(container["name"])
        needs = [link.split(":", 1)[0] for link in container.get("links", [])]
        needs += [d["containerName"] for d in container.get("dependsOn", [])]
        for name in needs:
            if name in by_name:
                visit(by_name[name])
        done.append(container)

    for container in containers:
        visit(container)
    return done


def task_labels(cluster_arn: str, instance_arn: str, address: str | None) -> dict[str, str]:
    """Dockyard's labels on every container of the task (and its network owner)."""
    return {
        LABEL_CLUSTER: cluster_arn,
        LABEL_CONTAINER_INSTANCE: instance_arn,
        **({LABEL_AWSVPC_ADDRESS: address} if address else {}),
    }


def cpu_share(definitions: list[dict[str, Any]], task_cpu: int) -> int:
    """Task-level cpu, split evenly over the containers that set none (CPU shares)."""
    if not task_cpu:
        return 0
    unset = [c for c in definitions if not c.get("cpu")]
    given = sum(int(c.get("cpu") or 0) for c in definitions)
    return max(0, task_cpu - given) // max(1, len(unset))


def container_spec(
    container: Mapping[str, Any],
    override: Mapping[str, Any],
    task: TaskFacts,
    *,
    metadata_env: Mapping[str, str],
    started: Mapping[str, str],
) -> ContainerSpec:
    """`started`: container name -> engine id of the task's containers already running
    (links name them by id)."""
    name = container["name"]
    shared = task.network_mode is not None  # awsvpc: in the network owner's namespace
    environment = {e["name"]: e.get("value", "") for e in container.get("environment", [])}
    environment.update({e["name"]: e.get("value", "") for e in override.get("environment", [])})
    environment.update(
        DOCKYARD_TASK_ARN=task.task_arn,
        DOCKYARD_CONTAINER_NAME=name,
        DOCKYARD_CONTAINER_INSTANCE_ARN=task.instance_arn,
        DOCKYARD_CLUSTER_ARN=task.cluster_arn,
        DOCKYARD_HOST_IP=task.host_ip,
    )
    environment.pop("ECS_CONTAINER_METADATA_URI", None)
    environment.update(metadata_env)  # the agent's, over any the definition sets
    links = []
    for link in [] if shared else container.get("links", []):
        target, _, alias = link.partition(":")
        if target in started:
            links.append((started[target], alias or target))
    command = override.get("command", container.get("command"))
    cpu = int(override.get("cpu", container.get("cpu", 0)) or 0) or cpu_share(
        task.definitions, task.task_cpu
    )
    memory = override.get("memory", container.get("memory"))
    if memory is None and "memoryReservation" not in container and task.task_memory:
        memory = task.task_memory  # task-level memory: the container's hard limit
    health = container.get("healthCheck")
    stop_timeout = container.get("stopTimeout")
    log_driver, log_options = docker_log_config(container.get("logConfiguration"))
    return ContainerSpec(
        task_arn=task.task_arn,
        container_name=name,
        image=container["image"],
        command=tuple(command) if command else None,
        entry_point=tuple(container["entryPoint"]) if container.get("entryPoint") else None,
        environment=environment,
        working_directory=container.get("workingDirectory"),
        user=container.get("user"),
        hostname=None if shared else container.get("hostname"),
        cpu_shares=cpu,
        cpu_limit_units=task.task_cpu,  # the task size: each container's ceiling
        memory_mib=memory,
        memory_reservation_mib=override.get(
            "memoryReservation", container.get("memoryReservation")
        ),
        port_mappings=()
        if shared
        else tuple(
            PortMapping(
                int(m["containerPort"]),
                m.get("protocol", "tcp"),
                int(m["containerPort"] if task.address else m.get("hostPort") or 0),
                task.address or task.host_ip,
            )
            for m in container.get("portMappings", [])
            if "containerPort" in m
        ),
        labels=task_labels(task.cluster_arn, task.instance_arn, task.address),
        links=tuple(links),
        ulimits=tuple(
            Ulimit(u["name"], int(u["softLimit"]), int(u["hardLimit"]))
            for u in container.get("ulimits", [])
        ),
        health_check=HealthCheck.from_ecs(health) if health else None,
        stop_timeout_s=float(
            stop_timeout if stop_timeout is not None else task.default_stop_timeout_s
        ),
        docker_labels=container.get("dockerLabels", {}),
        init_process_enabled=bool(
            container.get("linuxParameters", {}).get("initProcessEnabled", False)
        ),
        log_driver=log_driver,
        log_options=log_options,
        network_mode=task.network_mode,
    )
