"""ListContainerInstances `filter`: the cluster query language over stored instances."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.scheduler.query import compile_query
from dockyard.store import Tx


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """A container instance document seen through the query language's subject protocol."""

    instance_id: str
    agent_connected: bool
    attributes: Mapping[str, str | None]
    registered_at: float
    agent_version: str
    running_tasks_count: int
    task_groups: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> StoredInstance:
        return cls(
            instance_id=doc["ec2InstanceId"],
            agent_connected=bool(doc.get("agentConnected")),
            attributes={a["name"]: a.get("value") for a in doc.get("attributes", [])},
            registered_at=float(doc.get("registeredAt", 0.0)),
            agent_version=doc.get("versionInfo", {}).get("agentVersion", ""),
            running_tasks_count=int(doc.get("runningTasksCount", 0)),
            task_groups=doc.get("taskGroups", {}),
        )


def instance_filter(expression: str) -> Callable[[Tx, dict[str, Any]], bool]:
    """Compile once (syntax errors raise InvalidParameterException), then match each doc."""
    query = compile_query(expression)

    def matches(_tx: Tx, doc: dict[str, Any]) -> bool:
        return query.matches(StoredInstance.of(doc))

    return matches
