"""UpdateTaskProtection / GetTaskProtection: task scale-in protection.

The protection lives in the task document under `PROTECTION_FIELD` ({"enabled",
"expiresAt"}; `tasks/protection.py`), which DescribeTasks strips. The service controller reads it
(`controllers/services/loop.py` -> TaskView.protected) and never stops a protected,
unexpired task to scale in or to replace it in a deployment; failed health checks
and lost hosts still stop it, as in ECS.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.tasks import find_task
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException
from dockyard.store import Kind
from dockyard.tasks.protection import PROTECTION_FIELD, protected_until

DEFAULT_MINUTES = 120
MAX_MINUTES = 2880
MAX_TASKS = 10


def _entry(task: dict[str, Any], now: float) -> dict[str, Any]:
    until = protected_until(task, now)
    entry: dict[str, Any] = {"taskArn": task["taskArn"], "protectionEnabled": until is not None}
    if until is not None:
        entry["expirationDate"] = until
    return entry


def _refs(params: Params) -> list[str]:
    refs = list(params.get("tasks") or [])
    if len(refs) > MAX_TASKS:
        raise InvalidParameterException(f"tasks can list at most {MAX_TASKS} tasks.")
    return refs


def update_task_protection(ctx: ApiContext, params: Params) -> Result:
    refs = _refs(params)
    if not refs:
        raise InvalidParameterException("tasks must list at least one task.")
    enabled = bool(params["protectionEnabled"])
    minutes = params.get("expiresInMinutes")
    if minutes is not None and not enabled:
        raise InvalidParameterException(
            "expiresInMinutes can only be given when protectionEnabled is true."
        )
    minutes = DEFAULT_MINUTES if minutes is None else minutes
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidParameterException(
            f"expiresInMinutes must be between 1 and {MAX_MINUTES} minutes."
        )
    protected, failures = [], []
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params["cluster"])
        now = ctx.now()
        for ref in refs:
            arn, task = find_task(ctx, cluster, ref, tx)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            if task["lastStatus"] == "STOPPED" or task["desiredStatus"] == "STOPPED":
                failures.append(
                    {"arn": arn, "reason": "TASK_NOT_VALID", "detail": "The task is stopped."}
                )
                continue
            task[PROTECTION_FIELD] = (
                {"enabled": True, "expiresAt": round(now + minutes * 60, 3)}
                if enabled
                else {"enabled": False}
            )
            tx.update(Kind.TASK, arn, task)
            protected.append(_entry(task, now))
    if protected:
        ctx.tasks_changed()  # a scale-in held back by protection may proceed now
    return {"protectedTasks": protected, "failures": failures}


def get_task_protection(ctx: ApiContext, params: Params) -> Result:
    refs = _refs(params)
    protected, failures = [], []
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params["cluster"])
        now = ctx.now()
        if not refs:
            rows = tx.find(
                Kind.TASK, {"cluster": cluster["clusterArn"], "desired_status": "RUNNING"}
            )
            protected = [_entry(t, now) for t in rows if protected_until(t, now) is not None]
        for ref in refs:
            arn, task = find_task(ctx, cluster, ref, tx)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                protected.append(_entry(task, now))
    return {"protectedTasks": protected, "failures": failures}
