"""PutScheduledAction, DescribeScheduledActions, DeleteScheduledAction.

The expression is parsed here (`autoscaling.schedule`) so a bad one is refused with
ValidationException and nothing is written; the scaling controller runs the action
when it is due (`controllers/scaling.run_scheduled`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard.api.autoscaling.paging import paginate
from dockyard.autoscaling import schedule
from dockyard.autoscaling.errors import ObjectNotFoundException, ValidationException
from dockyard.autoscaling.records import (
    check_kind,
    public,
    require_target,
    scheduled_action_arn,
)
from dockyard.context import ApiContext, Params, Result
from dockyard.store import Kind


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _where(namespace: str, resource_id: str, name: str) -> dict[str, Any]:
    return {"service_namespace": namespace, "resource_id": resource_id, "name": name}


def put_scheduled_action(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension, name = params["ScalableDimension"], params["ScheduledActionName"]
    check_kind(namespace, resource_id, dimension)
    try:
        if params.get("Schedule"):
            schedule.parse(params["Schedule"])
        if "Timezone" in params:
            schedule.zone(params["Timezone"])
    except schedule.ScheduleError as exc:
        raise ValidationException(str(exc)) from None
    start, end = _epoch(params.get("StartTime")), _epoch(params.get("EndTime"))
    if start is not None and end is not None and start >= end:
        raise ValidationException("StartTime must be before EndTime.")
    wanted = params.get("ScalableTargetAction") or {}
    low, high = wanted.get("MinCapacity"), wanted.get("MaxCapacity")
    if low is not None and high is not None and low > high:
        raise ValidationException(
            f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high})."
        )
    with ctx.store.transaction() as tx:
        require_target(tx, namespace, resource_id, dimension)
        rows = tx.find(Kind.SCHEDULED_ACTION, _where(namespace, resource_id, name))
        rows = [r for r in rows if r["ScalableDimension"] == dimension]
        now = ctx.now()
        if rows:
            doc = rows[0]
        else:
            if not params.get("Schedule"):
                raise ValidationException("Schedule is required for a new scheduled action.")
            doc = {
                "ScheduledActionName": name,
                "ScheduledActionARN": scheduled_action_arn(ctx.identity, resource_id, name),
                "ServiceNamespace": namespace,
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "CreationTime": now,
            }
        for field in ("Schedule", "Timezone", "ScalableTargetAction"):
            if params.get(field) is not None:
                doc[field] = params[field]
        for field, value in (("StartTime", start), ("EndTime", end)):
            if value is not None:
                doc[field] = value
        doc["_lastRun"] = now  # a changed schedule counts from now
        columns = _where(namespace, resource_id, name)
        if rows:
            tx.update(Kind.SCHEDULED_ACTION, doc["ScheduledActionARN"], doc, **columns)
        else:
            tx.insert(Kind.SCHEDULED_ACTION, doc["ScheduledActionARN"], doc, **columns)
    return {}


def describe_scheduled_actions(ctx: ApiContext, params: Params) -> Result:
    where: dict[str, Any] = {"service_namespace": params["ServiceNamespace"]}
    if params.get("ResourceId"):
        where["resource_id"] = params["ResourceId"]
    if params.get("ScheduledActionNames"):
        where["name"] = list(params["ScheduledActionNames"])
    dimension = params.get("ScalableDimension")
    with ctx.store.read() as tx:
        actions = [
            public(doc)
            for doc in tx.find(Kind.SCHEDULED_ACTION, where)
            if dimension is None or doc["ScalableDimension"] == dimension
        ]
    return paginate(
        params,
        actions,
        lambda a: f"{a['ResourceId']}|{a['ScheduledActionName']}",
        "ScheduledActions",
    )


def delete_scheduled_action(ctx: ApiContext, params: Params) -> Result:
    namespace, resource_id = params["ServiceNamespace"], params["ResourceId"]
    dimension, name = params["ScalableDimension"], params["ScheduledActionName"]
    check_kind(namespace, resource_id, dimension)
    with ctx.store.transaction() as tx:
        rows = [
            r
            for r in tx.find(Kind.SCHEDULED_ACTION, _where(namespace, resource_id, name))
            if r["ScalableDimension"] == dimension
        ]
        if not rows:
            raise ObjectNotFoundException(
                f"No scheduled action found for service namespace: {namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {dimension}, scheduled action name: {name}"
            )
        tx.delete(Kind.SCHEDULED_ACTION, rows[0]["ScheduledActionARN"])
    return {}
