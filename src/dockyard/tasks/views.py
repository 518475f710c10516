"""Store documents (+ capacity records) -> the scheduler's `InstanceView`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.scheduler.model import DEFAULT_DYNAMIC_PORT_RANGE, ENI_GROUP, InstanceView
from dockyard.tasks.capacity import Capacity, from_document, reserved_ports

DYNAMIC_RANGE_ATTRIBUTE = "dockyard.dynamic-port-range"


def dynamic_range(doc: dict[str, Any]) -> tuple[int, int]:
    for attribute in doc.get("attributes", []):
        if attribute["name"] == DYNAMIC_RANGE_ATTRIBUTE and attribute.get("value"):
            low, _, high = str(attribute["value"]).partition("-")
            if low.isdigit() and high.isdigit():
                return int(low), int(high)
    return DEFAULT_DYNAMIC_PORT_RANGE


def _number(resources: list[dict[str, Any]], name: str) -> int:
    for resource in resources:
        if resource["name"] == name:
            return int(resource.get("integerValue", 0))
    return 0


def instance_view(
    doc: dict[str, Any],
    capacity: Capacity | None = None,
    groups: Mapping[str, int] | None = None,
) -> InstanceView:
    """The instance as the scheduler sees it; without `capacity`, what the document
    itself says (an AWS-composed or pre-0006 document; fresh otherwise). `groups`: its
    live tasks by task group (counted from the tasks, `memory.load`); without them,
    the pre-0006 document's counts."""
    capacity = capacity or from_document(doc)
    if groups is None:
        groups = {g: int(n) for g, n in (doc.get("taskGroups") or {}).items() if g != ENI_GROUP}
    task_groups = {g: n for g, n in groups.items() if n > 0}
    if capacity.enis:
        task_groups[ENI_GROUP] = capacity.enis
    registered = doc["registeredResources"]
    reserved_tcp, reserved_udp = reserved_ports(doc)
    return InstanceView(
        arn=doc["containerInstanceArn"],
        instance_id=doc["ec2InstanceId"],
        registered_cpu=_number(registered, "CPU"),
        registered_memory=_number(registered, "MEMORY"),
        remaining_cpu=capacity.remaining_cpu,
        remaining_memory=capacity.remaining_memory,
        status=doc["status"],
        agent_connected=bool(doc.get("agentConnected")),
        attributes={a["name"]: a.get("value") for a in doc.get("attributes", [])},
        registered_at=float(doc.get("registeredAt", 0.0)),
        agent_version=doc.get("versionInfo", {}).get("agentVersion", ""),
        running_tasks_count=capacity.running,
        pending_tasks_count=capacity.pending,
        task_groups=task_groups,
        reserved_ports_tcp=reserved_tcp,
        reserved_ports_udp=reserved_udp,
        used_ports_tcp=capacity.used_tcp,
        used_ports_udp=capacity.used_udp,
        pending_dynamic_tcp=capacity.pending_tcp,
        pending_dynamic_udp=capacity.pending_udp,
    )
