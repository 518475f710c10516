"""Alarm domain functions on a control-store transaction.

Used by the CloudWatch API (api/cloudwatch/alarms.py), the alarm controller
(controllers/alarms.py) and Application Auto Scaling, which creates and deletes
the alarms its target-tracking policies own (`owner` = the policy ARN). Every
change writes its history item in the same transaction. The stored document is
DescribeAlarms' MetricAlarm shape, so the API answers with it as stored.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from dockyard.alarms import history
from dockyard.alarms.config import check_put_metric_alarm, configuration
from dockyard.alarms.errors import ResourceNotFound, ValidationError
from dockyard.arns import Identity
from dockyard.store import Kind, Tx

_SEQUENCE = itertools.count()
INITIAL_REASON = "Unchecked: Initial alarm creation"
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


def alarm_arn(identity: Identity, name: str) -> str:
    return identity.arn("cloudwatch", f"alarm:{name}")


def _row(tx: Tx, name: str) -> dict[str, Any] | None:
    rows = tx.find_rows(Kind.ALARM, {"name": name})
    return rows[0] if rows else None


def find_alarm(tx: Tx, name: str) -> dict[str, Any] | None:
    """The alarm's MetricAlarm document, or None."""
    row = _row(tx, name)
    return dict(row["doc"]) if row else None


def alarm_owner(tx: Tx, name: str) -> str | None:
    """The scaling policy ARN owning the alarm (None for the user's own alarms)."""
    row = _row(tx, name)
    return row["owner"] if row else None


def add_history(tx: Tx, item: dict[str, Any]) -> None:
    """Store one history item; its key (kept in `_key`, hidden by the API) orders items of
    the same millisecond in the order they were written."""
    key = f"{int(item['Timestamp'] * 1000):015d}-{next(_SEQUENCE):012d}-{secrets.token_hex(4)}"
    tx.insert(
        Kind.ALARM_HISTORY,
        key,
        {**item, "_key": key},
        alarm_name=item["AlarmName"],
        timestamp=item["Timestamp"],
    )


def _columns(doc: dict[str, Any], owner: str | None) -> dict[str, Any]:
    return {
        "name": doc["AlarmName"],
        "namespace": doc.get("Namespace"),
        "metric_name": doc.get("MetricName"),
        "state": doc["StateValue"],
        "owner": owner,
    }


def _refuse_owned(name: str, owner: str | None, verb: str) -> None:
    raise ValidationError(
        f"Alarm {name} is managed by the Application Auto Scaling policy {owner} and cannot "
        f"be {verb} directly; change or delete the scaling policy instead."
    )


def put_alarm(
    tx: Tx, identity: Identity, params: dict[str, Any], now: float, *, owner: str | None = None
) -> dict[str, Any]:
    """PutMetricAlarm: create the alarm (INSUFFICIENT_DATA) or replace its configuration.

    An update keeps the alarm's state, as CloudWatch does; Tags apply only on creation.
    """
    check_put_metric_alarm(params)
    config = configuration(params)
    name = config["AlarmName"]
    row = _row(tx, name)
    arn = alarm_arn(identity, name)
    if row is None:
        doc = {
            "AlarmArn": arn,
            **config,
            "AlarmConfigurationUpdatedTimestamp": now,
            "StateValue": "INSUFFICIENT_DATA",
            "StateReason": INITIAL_REASON,
            "StateUpdatedTimestamp": now,
            "StateTransitionedTimestamp": now,
        }
        tx.insert(Kind.ALARM, arn, doc, **_columns(doc, owner))
        add_history(tx, history.created(doc, now))
        tags = params.get("Tags") or []
        if tags:
            tx.put_tags(arn, [{"key": t["Key"], "value": t["Value"]} for t in tags])
        return doc
    old = dict(row["doc"])
    if row["owner"] != owner:
        _refuse_owned(name, row["owner"] or owner, "changed")
    state = {k: old[k] for k in history.STATE_MEMBERS if k in old}
    doc = {**config, **state, "AlarmArn": old["AlarmArn"]}
    doc["AlarmConfigurationUpdatedTimestamp"] = now
    tx.update(Kind.ALARM, row["arn"], doc, **_columns(doc, owner))
    add_history(tx, history.updated(old, doc, now))
    return doc


def _delete(tx: Tx, row: dict[str, Any], now: float) -> None:
    tx.delete(Kind.ALARM, row["arn"])
    tx.delete_all_tags(row["arn"])
    add_history(tx, history.deleted(row["doc"], now))


def delete_alarms_owned_by(tx: Tx, owner: str, now: float | None = None) -> list[str]:
    """Delete every alarm a scaling policy owns; returns their names."""
    rows = tx.find_rows(Kind.ALARM, {"owner": owner})
    for row in rows:
        _delete(tx, row, time.time() if now is None else now)
    return [row["name"] for row in rows]


def delete_alarms(tx: Tx, names: list[str], now: float) -> None:
    """DeleteAlarms: all or nothing; unknown names and policy-owned alarms are refused."""
    rows = tx.find_rows(Kind.ALARM, {"name": sorted(set(names))})
    found = {row["name"]: row for row in rows}
    missing = [name for name in names if name not in found]
    if missing:
        raise ResourceNotFound(
            f"{len(missing)} of the alarms in the request could not be found: "
            f"[{', '.join(missing)}]. No alarms were deleted."
        )
    for row in rows:
        if row["owner"]:
            _refuse_owned(row["name"], row["owner"], "deleted")
    for row in rows:
        _delete(tx, row, now)


def set_state(
    tx: Tx,
    name: str,
    state: str,
    reason: str,
    reason_data: str | None,
    *,
    now: float,
    config_updated: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Move an alarm to `state`: (old, new) documents, or None when nothing changed.

    `config_updated` guards the evaluator: when the alarm was reconfigured after the
    evaluation read it, the result is stale and is dropped (None).
    """
    row = _row(tx, name)
    if row is None:
        raise ResourceNotFound(f"Alarm {name} not found")
    old = dict(row["doc"])
    if config_updated is not None and old["AlarmConfigurationUpdatedTimestamp"] != config_updated:
        return None
    if old["StateValue"] == state and config_updated is not None:
        return None
    doc = {**old, "StateValue": state, "StateReason": reason, "StateUpdatedTimestamp": now}
    doc.pop("StateReasonData", None)
    if reason_data:
        doc["StateReasonData"] = reason_data
    if state != old["StateValue"]:
        doc["StateTransitionedTimestamp"] = now
    tx.update(Kind.ALARM, row["arn"], doc, **_columns(doc, row["owner"]))
    add_history(tx, history.state_changed(old, doc, now))
    return old, doc


def set_actions_enabled(tx: Tx, names: list[str], enabled: bool, now: float) -> None:
    """Enable/DisableAlarmActions: unknown names are skipped, as CloudWatch skips them."""
    for row in tx.find_rows(Kind.ALARM, {"name": sorted(set(names))}):
        old = dict(row["doc"])
        if old.get("ActionsEnabled", True) == enabled:
            continue
        doc = {**old, "ActionsEnabled": enabled, "AlarmConfigurationUpdatedTimestamp": now}
        tx.update(Kind.ALARM, row["arn"], doc, **_columns(doc, row["owner"]))
        add_history(tx, history.updated(old, doc, now))


def record_actions(
    tx: Tx, doc: dict[str, Any], outcomes: list[tuple[str, bool, str]], now: float
) -> None:
    """Action history items: (action ARN, succeeded, message) for each action invoked."""
    for action_arn, succeeded, message in outcomes:
        add_history(tx, history.action(doc, action_arn, succeeded, message, now))


def prune_history(tx: Tx, before: float, limit: int = 500) -> int:
    """Forget up to `limit` history items older than `before` (CloudWatch keeps 30 days)."""
    rows = tx.find(Kind.ALARM_HISTORY, order_by=("timestamp", "arn"), limit=limit)
    stale = [row["_key"] for row in rows if row["Timestamp"] < before]
    for key in stale:
        tx.delete(Kind.ALARM_HISTORY, key)
    return len(stale)
