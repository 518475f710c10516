"""One network namespace per awsvpc task, owned by a small "pause" container. Pure.

On ECS an awsvpc task's containers share one network namespace (the ENI's): they reach
each other on localhost, which the common Fargate shape needs (an app plus a proxy, log
router or metrics sidecar on 127.0.0.1). The ECS agent does it with a pause container
per task (`~internal~ecs~pause`), started first; Dockyard's agent does the same:

    network owner   image dockyard/pause:1 (agent/pause_image.py builds it at agent start
                    from the host's busybox-static: no registry), Docker's bridge network,
                    publishes every containerPort of every container of the task on the
                    task's pool address (<address>:<port>:<port>, agent/awsvpc.py)
    each container  NetworkMode "container:<owner id>": no ports, links or hostname of
                    its own (Docker refuses them there; see `ignored_options`)

The owner carries the task's labels (task ARN, container name OWNER_NAME, cluster,
instance, awsvpc address), so restart adoption, orphan cleanup and label filters see it;
it is never reported as a container of the task. `task_network` runs it; this module
only says what to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.agent.runtime import ContainerSpec, PortMapping, PortProtocol

OWNER_NAME = "~internal~ecs~pause"  # the ECS agent's name for its pause container
PAUSE_IMAGE = "dockyard/pause:1"
OWNER_STOP_TIMEOUT_S = 2.0  # its shell exits on SIGTERM at once; SIGKILL after this
CONTAINER_MODE = "container:"


def member_network_mode(owner_id: str) -> str:
    """Docker's NetworkMode for a container joining the owner's namespace."""
    return f"{CONTAINER_MODE}{owner_id}"


def joins(network_mode: str, owner_id: str | None) -> bool:
    """Whether a container with `network_mode` lives in this owner's namespace. Docker
    reports the id it was given; the agent always gives the full id."""
    return owner_id is not None and network_mode == member_network_mode(owner_id)


def published_ports(
    containers: Iterable[Mapping[str, Any]], address: str
) -> tuple[PortMapping, ...]:
    """Every containerPort of every container, once, on the task address, unchanged."""
    seen: dict[tuple[int, PortProtocol], PortMapping] = {}
    for container in containers:
        for mapping in container.get("portMappings", []):
            if "containerPort" not in mapping:
                continue
            port = int(mapping["containerPort"])
            protocol: PortProtocol = "udp" if mapping.get("protocol") == "udp" else "tcp"
            seen.setdefault((port, protocol), PortMapping(port, protocol, port, address))
    return tuple(seen.values())


def owner_spec(
    task_arn: str,
    address: str,
    containers: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str],
) -> ContainerSpec:
    """The network owner of an awsvpc task: the image's command (sleep until SIGTERM)."""
    return ContainerSpec(
        task_arn=task_arn,
        container_name=OWNER_NAME,
        image=PAUSE_IMAGE,
        port_mappings=published_ports(containers, address),
        labels=dict(labels),
        stop_timeout_s=OWNER_STOP_TIMEOUT_S,
    )


def ignored_options(container: Mapping[str, Any]) -> list[str]:
    """Options of an awsvpc container that cannot apply in a shared namespace, each with
    its reason. ECS refuses links with awsvpc at RegisterTaskDefinition (so does the
    server: api/ecs/task_definition_rules.py) and documents hostname as not supported
    in awsvpc; a definition stored before those rules still runs, without them."""
    reasons = []
    if container.get("hostname"):
        reasons.append(
            "hostname is not supported in awsvpc network mode (the task's containers "
            "share one network namespace)"
        )
    if container.get("links"):
        reasons.append(
            "links are not supported in awsvpc network mode (reach the other containers "
            "on localhost)"
        )
    return reasons
