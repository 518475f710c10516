"""Incremental resource accounting on an instance's live node.

A task *reserves* cpu, memory and its static host ports when placed (the
scheduler's `ClusterState.commit`) and its dynamic host ports when the agent
reports the bindings (`bind_dynamic`); it gives all of it back when it reaches
STOPPED (`release`). `count_transition` keeps the running/pending counters in
step with each status change. So what is left always equals the registered
resources minus the live tasks', without scanning tasks. The reservation is kept
with the task (column `reservation`) so a release gives back exactly what was taken.

Neighbours: `reports` calls these inside `ClusterState.changing(arn)` (indexes kept);
`memory` writes the node's `capacity` row afterwards.
"""

from __future__ import annotations

from typing import Any

from dockyard.scheduler.model import ENI_GROUP, TaskRequest
from dockyard.scheduler.node import Node
from dockyard.tasks.capacity import INTERNAL_FIELDS, status_bucket

__all__ = [
    "INTERNAL_FIELDS",
    "Reservation",
    "bind_dynamic",
    "count_transition",
    "release",
    "reservation_for",
]

Reservation = dict[str, Any]


def reservation_for(request: TaskRequest) -> Reservation:
    return {
        "cpu": request.cpu,
        "memory": request.memory,
        "tcp": sorted(request.ports_tcp),
        "udp": sorted(request.ports_udp),
        "dynamicTcp": request.dynamic_ports_tcp,
        "dynamicUdp": request.dynamic_ports_udp,
        "boundTcp": [],
        "boundUdp": [],
        "group": request.group,
        "enis": request.enis,  # awsvpc: one address of the instance's pool
    }


def bind_dynamic(node: Node, reservation: Reservation, bindings: list[dict[str, Any]]) -> bool:
    """Record the dynamic host ports the agent bound; True when something changed."""
    static = {("tcp", p) for p in reservation["tcp"]} | {("udp", p) for p in reservation["udp"]}
    bound = {("tcp", p) for p in reservation["boundTcp"]} | {
        ("udp", p) for p in reservation["boundUdp"]
    }
    fresh = (
        {(b.get("protocol", "tcp"), int(b["hostPort"])) for b in bindings if b.get("hostPort")}
        - static
        - bound
    )
    if not fresh:
        return False
    for protocol in ("tcp", "udp"):
        ports = sorted(p for proto, p in fresh if proto == protocol)
        if not ports:
            continue
        key, want = ("boundTcp", "dynamicTcp") if protocol == "tcp" else ("boundUdp", "dynamicUdp")
        settled = min(len(ports), max(reservation[want] - len(reservation[key]), 0))
        reservation[key] = sorted(set(reservation[key]) | set(ports))
        if protocol == "tcp":
            node.pending_tcp = max(node.pending_tcp - settled, 0)
            node.blocked_tcp.update(ports)
        else:
            node.pending_udp = max(node.pending_udp - settled, 0)
            node.blocked_udp.update(ports)
    return True


def release(node: Node, reservation: Reservation) -> None:
    """Give a stopped task's resources back to its instance."""
    node.cpu += reservation["cpu"]
    node.memory += reservation["memory"]
    node.blocked_tcp.difference_update(
        (set(reservation["tcp"]) | set(reservation["boundTcp"])) - node.reserved_tcp
    )
    node.blocked_udp.difference_update(
        (set(reservation["udp"]) | set(reservation["boundUdp"])) - node.reserved_udp
    )
    # Only the promises still open: a task may have bound more ports than it promised.
    unbound_tcp = max(reservation["dynamicTcp"] - len(reservation["boundTcp"]), 0)
    unbound_udp = max(reservation["dynamicUdp"] - len(reservation["boundUdp"]), 0)
    node.pending_tcp = max(node.pending_tcp - unbound_tcp, 0)
    node.pending_udp = max(node.pending_udp - unbound_udp, 0)
    for group, taken in ((reservation["group"], 1), (ENI_GROUP, reservation.get("enis", 0))):
        left = node.task_groups.get(group, 0) - int(taken)
        if left > 0:
            node.task_groups[group] = left
        elif taken:
            node.task_groups.pop(group, None)


def count_transition(node: Node, before: str | None, after: str) -> None:
    """Keep the running / pending counters in step with one task's status change."""
    old, new = status_bucket(before), status_bucket(after)
    if old == new:
        return
    if old == "running":
        node.running_tasks_count = max(node.running_tasks_count - 1, 0)
    elif old == "pending":
        node.pending_tasks_count = max(node.pending_tasks_count - 1, 0)
    if new == "running":
        node.running_tasks_count += 1
    elif new == "pending":
        node.pending_tasks_count += 1
