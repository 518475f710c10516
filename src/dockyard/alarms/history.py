"""DescribeAlarmHistory items, written as CloudWatch writes them (pure).

Three kinds: ConfigurationUpdate (create/update/delete, with the alarm's
configuration in camelCase as CloudWatch puts it in HistoryData), StateUpdate
(old and new state with their reasons) and Action (an action invoked, succeeded
or failed). HistoryData is a JSON string, as in the API.
"""

from __future__ import annotations

import json
from typing import Any

VERSION = "1.0"
# Members of the MetricAlarm document that are state, not configuration.
STATE_MEMBERS = (
    "AlarmArn",
    "StateValue",
    "StateReason",
    "StateReasonData",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
    "AlarmConfigurationUpdatedTimestamp",
)


def _camel(value: Any) -> Any:
    """CloudWatch's HistoryData spells members with a lowercase first letter (`oKActions`)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _configuration(doc: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = _camel({k: v for k, v in doc.items() if k not in STATE_MEMBERS})
    return config


def _item(name: str, kind: str, now: float, summary: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmType": "MetricAlarm",
        "Timestamp": now,
        "HistoryItemType": kind,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data, separators=(",", ":")),
    }


def created(doc: dict[str, Any], now: float) -> dict[str, Any]:
    name = doc["AlarmName"]
    data = {"type": "Create", "version": VERSION, "createdAlarm": _configuration(doc)}
    return _item(name, "ConfigurationUpdate", now, f'Alarm "{name}" created', data)


def updated(old: dict[str, Any], new: dict[str, Any], now: float) -> dict[str, Any]:
    name = new["AlarmName"]
    data = {
        "type": "Update",
        "version": VERSION,
        "originalUpdatedAlarm": _configuration(old),
        "updatedAlarm": _configuration(new),
    }
    return _item(name, "ConfigurationUpdate", now, f'Alarm "{name}" updated', data)


def deleted(doc: dict[str, Any], now: float) -> dict[str, Any]:
    name = doc["AlarmName"]
    data = {"type": "Delete", "version": VERSION, "deletedAlarm": _configuration(doc)}
    return _item(name, "ConfigurationUpdate", now, f'Alarm "{name}" deleted', data)


def _state(doc: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {"stateValue": doc["StateValue"], "stateReason": doc["StateReason"]}
    raw = doc.get("StateReasonData")
    if raw:
        try:
            state["stateReasonData"] = json.loads(raw)
        except ValueError:
            state["stateReasonData"] = raw
    return state


def state_changed(old: dict[str, Any], new: dict[str, Any], now: float) -> dict[str, Any]:
    data = {"version": VERSION, "oldState": _state(old), "newState": _state(new)}
    summary = f"Alarm updated from {old['StateValue']} to {new['StateValue']}"
    return _item(new["AlarmName"], "StateUpdate", now, summary, data)


def action(
    doc: dict[str, Any], action_arn: str, succeeded: bool, message: str, now: float
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actionState": "Succeeded" if succeeded else "Failed",
        "notificationResource": action_arn,
        "stateUpdateTimestamp": int(doc.get("StateUpdatedTimestamp", now) * 1000),
    }
    if message:
        data["publishedMessage" if succeeded else "error"] = message
    summary = (
        f"Successfully executed action {action_arn}"
        if succeeded
        else f"Failed to execute action {action_arn}"
    )
    return _item(doc["AlarmName"], "Action", now, summary, data)
