"""Task scale-in protection as stored in the task document, read by both sides.

`api/ecs/task_protection.py` (UpdateTaskProtection / GetTaskProtection) writes it under
`PROTECTION_FIELD` ({"enabled", "expiresAt"}); the service controller
(`controllers/services/reads.py` -> TaskView.protected) reads it and never stops a
protected, unexpired task to scale in or to replace it in a deployment.
"""

from __future__ import annotations

from typing import Any

PROTECTION_FIELD = "_scaleInProtection"


def protected_until(task: dict[str, Any], now: float) -> float | None:
    """The expiry of the task's protection when it is enabled and unexpired, else None."""
    protection = task.get(PROTECTION_FIELD) or {}
    expires = protection.get("expiresAt")
    if protection.get("enabled") and expires is not None and expires > now:
        return float(expires)
    return None
