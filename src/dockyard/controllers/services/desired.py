"""Setting a service's desiredCount: the one path UpdateService and auto scaling share.

Neighbours: `api/ecs/services.update_service` (the user) and `controllers/scaling.py`
(Application Auto Scaling) call `set_desired_count` on the service document inside
their transaction; the service controller (`loop.py`) then starts or stops tasks.
A count outside the scalable target's [min, max] is accepted, as ECS accepts it;
the next scaling decision brings it back within bounds.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import InvalidParameterException


def set_desired_count(service: dict[str, Any], count: int, now: float) -> None:
    """Change desiredCount (and the PRIMARY deployment's) in the document; the caller writes it."""
    if service["schedulingStrategy"] == "DAEMON":
        raise InvalidParameterException("desiredCount is not supported for DAEMON services.")
    if count < 0:
        raise InvalidParameterException("desiredCount must be 0 or more.")
    service["desiredCount"] = count
    for deployment in service.get("deployments", []):
        if deployment["status"] == "PRIMARY":
            deployment["desiredCount"] = count
            deployment["updatedAt"] = now
