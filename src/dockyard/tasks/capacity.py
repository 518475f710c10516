"""A container instance's capacity bookkeeping as a record: its own table row, its
scheduler node, and the AWS fields it fills in DescribeContainerInstances.

Role: the one place that knows the `instance_capacity` row (migration 0006) and how
`remainingResources` / `runningTasksCount` / `pendingTasksCount` are composed from it.
Neighbours: `memory` writes a row after each change of a node (`of_node` + `write`);
`views` builds scheduler views from a document plus a record; the API composes
responses with `compose`. Documents written before 0006 carried these fields
themselves: `from_document` reads them (the migration and old-document fallbacks).

Task-group counts are not in the row (since 2026-12-03): with a few hundred services a
row carried a few hundred counts, re-encoded on every placement and report (6 % of the
server at 5,000 instances, bench/README.md). They are counted from the tasks table when
a cluster's state loads (`memory.load`, one GROUP BY) and kept in memory by the same
writes; the row keeps only the awsvpc address count (`enis`), which no column says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.lifecycle import PENDING_STATUSES
from dockyard.resources import ports_resource
from dockyard.scheduler.model import ENI_GROUP
from dockyard.scheduler.node import Node
from dockyard.store import Kind, Tx

# Fields of an instance document the API never shows (control-plane bookkeeping).
INTERNAL_FIELDS = frozenset(
    {"taskGroups", "pendingDynamicPorts", "disconnectedAt", "lastSeenAt", "agentServer"}
)  # agentServer: the server holding the agent's websocket (dockyard.ha)
# Fields that lived in the instance document before migration 0006 and now come from here.
CAPACITY_FIELDS = frozenset(
    {"remainingResources", "runningTasksCount", "pendingTasksCount", "taskGroups",
     "pendingDynamicPorts"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Capacity:
    """What is left on an instance and what runs there; `used_*` exclude reserved ports."""

    remaining_cpu: int
    remaining_memory: int
    used_tcp: frozenset[int] = frozenset()
    used_udp: frozenset[int] = frozenset()
    pending_tcp: int = 0  # dynamic host ports promised to tasks not yet bound
    pending_udp: int = 0
    running: int = 0
    pending: int = 0
    enis: int = 0  # awsvpc addresses in use (the scheduler's ENI_GROUP count)


def status_bucket(status: str | None) -> str | None:
    """Which counter a task in `status` counts in: "running", "pending" or none."""
    if status == "RUNNING":
        return "running"
    if status in PENDING_STATUSES:
        return "pending"
    return None


def _ports(resources: list[dict[str, Any]], name: str) -> frozenset[int]:
    for resource in resources:
        if resource["name"] == name:
            return frozenset(int(p) for p in resource.get("stringSetValue", []))
    return frozenset()


def _number(resources: list[dict[str, Any]], name: str) -> int:
    for resource in resources:
        if resource["name"] == name:
            return int(resource.get("integerValue", 0))
    return 0


def reserved_ports(doc: Mapping[str, Any]) -> tuple[frozenset[int], frozenset[int]]:
    registered = doc["registeredResources"]
    return _ports(registered, "PORTS"), _ports(registered, "PORTS_UDP")


def from_document(doc: Mapping[str, Any]) -> Capacity:
    """The record a pre-0006 document carried (or a fresh one: everything free)."""
    registered = doc["registeredResources"]
    remaining = doc.get("remainingResources") or registered
    reserved_tcp, reserved_udp = reserved_ports(doc)
    pending = doc.get("pendingDynamicPorts") or {}
    return Capacity(
        remaining_cpu=_number(remaining, "CPU"),
        remaining_memory=_number(remaining, "MEMORY"),
        used_tcp=_ports(remaining, "PORTS") - reserved_tcp,
        used_udp=_ports(remaining, "PORTS_UDP") - reserved_udp,
        pending_tcp=int(pending.get("tcp", 0)),
        pending_udp=int(pending.get("udp", 0)),
        running=int(doc.get("runningTasksCount", 0)),
        pending=int(doc.get("pendingTasksCount", 0)),
        enis=int((doc.get("taskGroups") or {}).get(ENI_GROUP, 0)),
    )


def of_node(node: Node) -> Capacity:
    return Capacity(
        remaining_cpu=node.cpu,
        remaining_memory=node.memory,
        used_tcp=frozenset(node.blocked_tcp - node.reserved_tcp),
        used_udp=frozenset(node.blocked_udp - node.reserved_udp),
        pending_tcp=node.pending_tcp,
        pending_udp=node.pending_udp,
        running=node.running_tasks_count,
        pending=node.pending_tasks_count,
        enis=node.task_groups.get(ENI_GROUP, 0),
    )


def from_row(row: Mapping[str, Any]) -> Capacity:
    doc = row["doc"]
    return Capacity(
        remaining_cpu=int(row["remaining_cpu"]),
        remaining_memory=int(row["remaining_memory"]),
        used_tcp=frozenset(int(p) for p in doc.get("usedTcp", [])),
        used_udp=frozenset(int(p) for p in doc.get("usedUdp", [])),
        pending_tcp=int(doc.get("pendingTcp", 0)),
        pending_udp=int(doc.get("pendingUdp", 0)),
        running=int(row["running_count"]),
        pending=int(row["pending_count"]),
        # rows written before 2026-12-03 kept every group's count under "taskGroups"
        enis=int(doc.get("enis", (doc.get("taskGroups") or {}).get(ENI_GROUP, 0))),
    )


def row_values(capacity: Capacity) -> tuple[dict[str, Any], dict[str, int]]:
    """(doc, columns) of the `instance_capacity` row."""
    doc: dict[str, Any] = {
        "usedTcp": sorted(capacity.used_tcp),
        "usedUdp": sorted(capacity.used_udp),
        "pendingTcp": capacity.pending_tcp,
        "pendingUdp": capacity.pending_udp,
    }
    if capacity.enis:
        doc["enis"] = capacity.enis
    columns = {
        "remaining_cpu": capacity.remaining_cpu,
        "remaining_memory": capacity.remaining_memory,
        "running_count": capacity.running,
        "pending_count": capacity.pending,
    }
    return doc, columns


def read(tx: Tx, arn: str) -> Capacity | None:
    row = tx.get_row(Kind.INSTANCE_CAPACITY, arn)
    return None if row is None else from_row(row)


def write(tx: Tx, arn: str, capacity: Capacity, *, cluster: str | None = None) -> None:
    """Update the row; insert it when `cluster` is given (a new instance)."""
    doc, columns = row_values(capacity)
    if cluster is not None:
        tx.insert(Kind.INSTANCE_CAPACITY, arn, doc, cluster=cluster, **columns)
    else:
        tx.update(Kind.INSTANCE_CAPACITY, arn, doc, **columns)


def compose(doc: Mapping[str, Any], capacity: Capacity | None) -> dict[str, Any]:
    """The AWS-shaped instance: the document plus remainingResources and task counts.

    `remainingResources` lists the registered resources in their order: CPU and MEMORY
    with what is left, PORTS/PORTS_UDP with the reserved ports plus the ports in use.
    """
    capacity = capacity or from_document(doc)
    out = {k: v for k, v in doc.items() if k not in CAPACITY_FIELDS and k not in INTERNAL_FIELDS}
    reserved_tcp, reserved_udp = reserved_ports(doc)
    remaining = []
    for resource in doc["registeredResources"]:
        name = resource["name"]
        if name == "CPU":
            remaining.append({**resource, "integerValue": capacity.remaining_cpu})
        elif name == "MEMORY":
            remaining.append({**resource, "integerValue": capacity.remaining_memory})
        elif name == "PORTS":
            remaining.append(ports_resource(name, reserved_tcp | capacity.used_tcp))
        elif name == "PORTS_UDP":
            remaining.append(ports_resource(name, reserved_udp | capacity.used_udp))
        else:
            remaining.append(dict(resource))
    out["remainingResources"] = remaining
    out["runningTasksCount"] = capacity.running
    out["pendingTasksCount"] = capacity.pending
    return out
