"""Store documents -> the scheduler's `InstanceView`."""

from __future__ import annotations

from typing import Any

from dockyard.scheduler.model import DEFAULT_DYNAMIC_PORT_RANGE, InstanceView

DYNAMIC_RANGE_ATTRIBUTE = "dockyard.dynamic-port-range"


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


def dynamic_range(doc: dict[str, Any]) -> tuple[int, int]:
    for attribute in doc.get("attributes", []):
        if attribute["name"] == DYNAMIC_RANGE_ATTRIBUTE and attribute.get("value"):
            low, _, high = str(attribute["value"]).partition("-")
            if low.isdigit() and high.isdigit():
                return int(low), int(high)
    return DEFAULT_DYNAMIC_PORT_RANGE


def instance_view(doc: dict[str, Any]) -> InstanceView:
    registered, remaining = doc["registeredResources"], doc["remainingResources"]
    reserved_tcp, reserved_udp = _ports(registered, "PORTS"), _ports(registered, "PORTS_UDP")
    pending = doc.get("pendingDynamicPorts") or {}
    return InstanceView(
        arn=doc["containerInstanceArn"],
        instance_id=doc["ec2InstanceId"],
        registered_cpu=_number(registered, "CPU"),
        registered_memory=_number(registered, "MEMORY"),
        remaining_cpu=_number(remaining, "CPU"),
        remaining_memory=_number(remaining, "MEMORY"),
        status=doc["status"],
        agent_connected=bool(doc.get("agentConnected")),
        attributes={a["name"]: a.get("value") for a in doc.get("attributes", [])},
        registered_at=float(doc.get("registeredAt", 0.0)),
        agent_version=doc.get("versionInfo", {}).get("agentVersion", ""),
        running_tasks_count=int(doc.get("runningTasksCount", 0)),
        task_groups=dict(doc.get("taskGroups") or {}),
        reserved_ports_tcp=reserved_tcp,
        reserved_ports_udp=reserved_udp,
        used_ports_tcp=_ports(remaining, "PORTS") - reserved_tcp,
        used_ports_udp=_ports(remaining, "PORTS_UDP") - reserved_udp,
        pending_dynamic_tcp=int(pending.get("tcp", 0)),
        pending_dynamic_udp=int(pending.get("udp", 0)),
    )
