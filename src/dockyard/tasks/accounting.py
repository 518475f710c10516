"""Incremental resource accounting on container instance documents.

A task *reserves* cpu, memory and its static host ports when placed and its
dynamic host ports when the agent reports the bindings; it releases all of it
when it reaches STOPPED. `remainingResources` therefore always equals the
registered resources minus the live tasks', without scanning tasks.
The reservation is kept with the task (column `reservation`) so a release gives
back exactly what was taken.
"""

from __future__ import annotations

from typing import Any

from dockyard.lifecycle import PENDING_STATUSES
from dockyard.resources import ports_resource
from dockyard.scheduler.model import TaskRequest

Reservation = dict[str, Any]

# Fields of an instance document the API never shows (control-plane bookkeeping).
INTERNAL_FIELDS = frozenset({"taskGroups", "pendingDynamicPorts", "disconnectedAt", "lastSeenAt"})


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
    }


def _resource(doc: dict[str, Any], name: str) -> dict[str, Any]:
    for resource in doc["remainingResources"]:
        if resource["name"] == name:
            return dict(resource)
    raise KeyError(name)


def _replace(doc: dict[str, Any], resource: dict[str, Any]) -> None:
    doc["remainingResources"] = [
        resource if r["name"] == resource["name"] else r for r in doc["remainingResources"]
    ]


def _shift_ports(doc: dict[str, Any], name: str, ports: list[int], add: bool) -> None:
    if not ports:
        return
    current = {int(p) for p in _resource(doc, name).get("stringSetValue", [])}
    registered = {
        int(p)
        for r in doc["registeredResources"]
        if r["name"] == name
        for p in r.get("stringSetValue", [])
    }
    current = current | set(ports) if add else (current - set(ports)) | registered
    _replace(doc, ports_resource(name, current))


def _shift_number(doc: dict[str, Any], name: str, delta: int) -> None:
    resource = _resource(doc, name)
    resource["integerValue"] = int(resource.get("integerValue", 0)) + delta
    _replace(doc, resource)


def _pending(doc: dict[str, Any]) -> dict[str, int]:
    return dict(doc.get("pendingDynamicPorts") or {"tcp": 0, "udp": 0})


def reserve(doc: dict[str, Any], reservation: Reservation) -> None:
    """Take a newly placed task's resources from its instance."""
    _shift_number(doc, "CPU", -reservation["cpu"])
    _shift_number(doc, "MEMORY", -reservation["memory"])
    _shift_ports(doc, "PORTS", reservation["tcp"], add=True)
    _shift_ports(doc, "PORTS_UDP", reservation["udp"], add=True)
    pending = _pending(doc)
    pending["tcp"] += reservation["dynamicTcp"]
    pending["udp"] += reservation["dynamicUdp"]
    doc["pendingDynamicPorts"] = pending
    groups = dict(doc.get("taskGroups") or {})
    groups[reservation["group"]] = groups.get(reservation["group"], 0) + 1
    doc["taskGroups"] = groups


def bind_dynamic(
    doc: dict[str, Any], reservation: Reservation, bindings: list[dict[str, Any]]
) -> bool:
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
    pending = _pending(doc)
    for protocol in ("tcp", "udp"):
        ports = sorted(p for proto, p in fresh if proto == protocol)
        key = "boundTcp" if protocol == "tcp" else "boundUdp"
        want = "dynamicTcp" if protocol == "tcp" else "dynamicUdp"
        if not ports:
            continue
        settled = min(len(ports), max(reservation[want] - len(reservation[key]), 0))
        pending[protocol] = max(pending[protocol] - settled, 0)
        reservation[key] = sorted(set(reservation[key]) | set(ports))
        _shift_ports(doc, "PORTS" if protocol == "tcp" else "PORTS_UDP", ports, add=True)
    doc["pendingDynamicPorts"] = pending
    return True


def release(doc: dict[str, Any], reservation: Reservation) -> None:
    """Give a stopped task's resources back to its instance."""
    _shift_number(doc, "CPU", reservation["cpu"])
    _shift_number(doc, "MEMORY", reservation["memory"])
    _shift_ports(doc, "PORTS", reservation["tcp"] + reservation["boundTcp"], add=False)
    _shift_ports(doc, "PORTS_UDP", reservation["udp"] + reservation["boundUdp"], add=False)
    pending = _pending(doc)
    pending["tcp"] = max(
        pending["tcp"] - (reservation["dynamicTcp"] - len(reservation["boundTcp"])), 0
    )
    pending["udp"] = max(
        pending["udp"] - (reservation["dynamicUdp"] - len(reservation["boundUdp"])), 0
    )
    doc["pendingDynamicPorts"] = pending
    groups = dict(doc.get("taskGroups") or {})
    left = groups.get(reservation["group"], 0) - 1
    if left > 0:
        groups[reservation["group"]] = left
    else:
        groups.pop(reservation["group"], None)
    doc["taskGroups"] = groups


def count_transition(doc: dict[str, Any], before: str | None, after: str) -> None:
    """Keep runningTasksCount / pendingTasksCount in step with one task's status change."""

    def bucket(status: str | None) -> str | None:
        if status == "RUNNING":
            return "runningTasksCount"
        if status in PENDING_STATUSES:
            return "pendingTasksCount"
        return None

    old, new = bucket(before), bucket(after)
    if old == new:
        return
    if old:
        doc[old] = max(int(doc.get(old, 0)) - 1, 0)
    if new:
        doc[new] = int(doc.get(new, 0)) + 1
