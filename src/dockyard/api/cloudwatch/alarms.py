"""CloudWatch alarm actions: PutMetricAlarm, DescribeAlarms(ForMetric), DescribeAlarmHistory,
DeleteAlarms, SetAlarmState, Enable/DisableAlarmActions and alarm tagging.

Thin: the rules live in `dockyard.alarms` (config, store, history); this module maps
requests to them, filters and pages listings, and fires SetAlarmState's actions after
its transaction has committed. Listings are keyset-paged on the store's sort keys
(alarm name; history timestamp + id) with filters the store cannot express applied
while scanning, so a page never skips or repeats an item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp

from dockyard.alarms import firing
from dockyard.alarms import store as alarms
from dockyard.alarms.errors import (
    InvalidFormat,
    InvalidNextToken,
    InvalidParameterCombination,
    ResourceNotFoundException,
    ValidationError,
)
from dockyard.api.pagination import decode_token, encode_token
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import AwsError
from dockyard.store import Kind, Tx

SCAN_CHUNK = 200


def _token(params: Params, *types: type | tuple[type, ...]) -> list[Any] | None:
    """The decoded NextToken; its parts must have the types of the listing's sort key."""
    token = params.get("NextToken")
    if not token:
        return None
    try:
        key = decode_token(token)
    except AwsError:
        raise InvalidNextToken() from None
    if len(key) != len(types) or not all(
        isinstance(part, kind) and not isinstance(part, bool)
        for part, kind in zip(key, types, strict=True)
    ):
        raise InvalidNextToken()
    return key


def _scan(
    tx: Tx,
    kind: Kind,
    *,
    where: dict[str, Any],
    order_by: Sequence[str],
    key: Callable[[dict[str, Any]], list[Any]],
    keep: Callable[[dict[str, Any]], bool],
    after: list[Any] | None,
    limit: int,
    descending: bool = False,
    prefix: tuple[str, str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` documents kept by `keep`, in store order after `after`; and a token."""
    found: list[dict[str, Any]] = []
    while True:
        rows = tx.find(
            kind,
            where,
            order_by=order_by,
            descending=descending,
            after=after,
            limit=SCAN_CHUNK,
            prefix=prefix,
        )
        for row in rows:
            if keep(row):
                if len(found) == limit:
                    return found, encode_token(key(found[-1]))
                found.append(row)
        if len(rows) < SCAN_CHUNK:
            return found, None
        after = key(rows[-1])


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return float(parse_timestamp(value).timestamp())


# --- configuration --------------------------------------------------------------------------


def put_metric_alarm(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        alarms.put_alarm(tx, ctx.identity, params, ctx.now())
    return {}


def delete_alarms(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        alarms.delete_alarms(tx, params["AlarmNames"], ctx.now())
    return {}


def _set_actions(enabled: bool) -> Handler:
    def handler(ctx: ApiContext, params: Params) -> Result:
        with ctx.store.transaction() as tx:
            alarms.set_actions_enabled(tx, params["AlarmNames"], enabled, ctx.now())
        return {}

    return handler


def set_alarm_state(ctx: ApiContext, params: Params) -> Result:
    """Set the state until the next evaluation says otherwise; a change fires its actions."""
    if params["StateValue"] not in firing.STATE_ACTIONS:
        raise ValidationError(
            f"1 validation error detected: Value '{params['StateValue']}' at 'stateValue' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[INSUFFICIENT_DATA, ALARM, OK]"
        )
    reason_data = params.get("StateReasonData")
    if reason_data is not None:
        try:
            json.loads(reason_data)
        except ValueError:
            raise InvalidFormat("StateReasonData must be valid JSON.") from None
    now = ctx.now()
    with ctx.store.transaction() as tx:
        changed = alarms.set_state(
            tx,
            params["AlarmName"],
            params["StateValue"],
            params["StateReason"],
            reason_data,
            now=now,
        )
    assert changed is not None
    old, new = changed
    if old["StateValue"] != new["StateValue"]:
        actions = firing.actions_for_state(new)
        if actions:
            firing.invoke_actions(
                ctx.store, ctx.alarm_actions, new, actions, metric_value=None, now=now
            )
    return {}


# --- listings -------------------------------------------------------------------------------


def describe_alarms(ctx: ApiContext, params: Params) -> Result:
    names, prefix = params.get("AlarmNames"), params.get("AlarmNamePrefix")
    if names and prefix:
        raise InvalidParameterCombination(
            "AlarmNames and AlarmNamePrefix cannot be specified together."
        )
    types = params.get("AlarmTypes") or ["MetricAlarm"]
    result: Result = {}
    if "CompositeAlarm" in types:
        result["CompositeAlarms"] = []
    if "MetricAlarm" not in types:
        return result
    if params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName"):
        result["MetricAlarms"] = []  # only composite alarms have children or parents
        return result
    where: dict[str, Any] = {}
    if names:
        where["name"] = sorted(set(names))
    if params.get("StateValue"):
        where["state"] = params["StateValue"]
    action_prefix = params.get("ActionPrefix")

    def keep(doc: dict[str, Any]) -> bool:
        if not action_prefix:
            return True
        actions = (doc.get(m) or [] for m in firing.STATE_ACTIONS.values())
        return any(a.startswith(action_prefix) for group in actions for a in group)

    with ctx.store.read() as tx:
        found, token = _scan(
            tx,
            Kind.ALARM,
            where=where,
            order_by=("name",),
            key=lambda doc: [doc["AlarmName"]],
            keep=keep,
            after=_token(params, str),
            limit=params.get("MaxRecords", 50),
            prefix=("name", prefix) if prefix else None,
        )
    result["MetricAlarms"] = found
    if token:
        result["NextToken"] = token
    return result


def describe_alarms_for_metric(ctx: ApiContext, params: Params) -> Result:
    dimensions = sorted((d["Name"], d["Value"]) for d in params.get("Dimensions") or [])
    wanted = {
        m: params[m] for m in ("Statistic", "ExtendedStatistic", "Period", "Unit") if m in params
    }

    def matches(doc: dict[str, Any]) -> bool:
        if sorted((d["Name"], d["Value"]) for d in doc.get("Dimensions") or []) != dimensions:
            return False
        return all(doc.get(member) == value for member, value in wanted.items())

    with ctx.store.read() as tx:
        docs = tx.find(
            Kind.ALARM,
            {"namespace": params["Namespace"], "metric_name": params["MetricName"]},
            order_by=("name",),
        )
    return {"MetricAlarms": [doc for doc in docs if matches(doc)]}


def describe_alarm_history(ctx: ApiContext, params: Params) -> Result:
    types = params.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
    if "MetricAlarm" not in types:
        return {"AlarmHistoryItems": []}
    start = _epoch(params["StartDate"]) if "StartDate" in params else None
    end = _epoch(params["EndDate"]) if "EndDate" in params else None
    if start is not None and end is not None and start > end:
        raise ValidationError("StartDate must be before EndDate.")
    kind = params.get("HistoryItemType")

    def keep(item: dict[str, Any]) -> bool:
        if kind and item["HistoryItemType"] != kind:
            return False
        if start is not None and item["Timestamp"] < start:
            return False
        return end is None or item["Timestamp"] <= end

    name = params.get("AlarmName")
    with ctx.store.read() as tx:
        found, token = _scan(
            tx,
            Kind.ALARM_HISTORY,
            where={"alarm_name": name} if name else {},
            order_by=("timestamp", "arn"),
            descending=params.get("ScanBy", "TimestampDescending") == "TimestampDescending",
            key=lambda item: [item["Timestamp"], item["_key"]],
            keep=keep,
            after=_token(params, (int, float), str),
            limit=params.get("MaxRecords", 100),
        )
    items = [{k: v for k, v in item.items() if k != "_key"} for item in found]
    result: Result = {"AlarmHistoryItems": items}
    if token:
        result["NextToken"] = token
    return result


# --- tags -----------------------------------------------------------------------------------


def _alarm_by_arn(tx: Tx, arn: str) -> dict[str, Any]:
    doc = tx.get(Kind.ALARM, arn)
    if doc is None:
        raise ResourceNotFoundException(f"Resource {arn} not found.")
    return doc


def tag_resource(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        _alarm_by_arn(tx, params["ResourceARN"])
        # A key given twice keeps its last value (one row per key).
        by_key = {t["Key"]: t["Value"] for t in params["Tags"]}
        tags = [{"key": key, "value": value} for key, value in by_key.items()]
        tx.put_tags(params["ResourceARN"], tags)
    return {}


def untag_resource(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        _alarm_by_arn(tx, params["ResourceARN"])
        tx.remove_tags(params["ResourceARN"], params["TagKeys"])
    return {}


def list_tags_for_resource(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        _alarm_by_arn(tx, params["ResourceARN"])
        tags = tx.get_tags(params["ResourceARN"])
    return {"Tags": [{"Key": t["key"], "Value": t["value"]} for t in tags]}


HANDLERS: dict[str, Handler] = {
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DescribeAlarmsForMetric": describe_alarms_for_metric,
    "DescribeAlarmHistory": describe_alarm_history,
    "DeleteAlarms": delete_alarms,
    "SetAlarmState": set_alarm_state,
    "EnableAlarmActions": _set_actions(True),
    "DisableAlarmActions": _set_actions(False),
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
