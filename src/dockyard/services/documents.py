"""A service document's deployments and events, written by the API and the controllers.

Neighbours: `api/ecs/services.py` (Create/UpdateService start a deployment),
`controllers/services/loop.py` (rollbacks, steady-state and failure events) and
`controllers/scaling.py` (scaling events) call these; none of them imports another.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

MAX_EVENTS = 100


def new_deployment_id() -> str:
    return "ecs-svc/" + str(secrets.randbelow(10**19)).zfill(19)


def add_event(service: dict[str, Any], message: str, now: float) -> None:
    """Newest first, at most 100, as DescribeServices shows them."""
    events = service.setdefault("events", [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now, "message": message})
    del events[MAX_EVENTS:]


def new_deployment(
    task_definition: str, desired: int, now: float, deployment_id: str | None = None
) -> dict[str, Any]:
    """A PRIMARY deployment of `task_definition`, IN_PROGRESS, with no tasks yet."""
    deployment_id = deployment_id or new_deployment_id()
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": "EC2",
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
