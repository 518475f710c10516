"""Invoking an alarm's actions and recording what became of them.

Runs after the state change has been committed and outside any transaction:
a sink (Application Auto Scaling) opens its own transaction, which SQLite could
not grant while ours was open. The outcomes are then written as Action history
items in one short transaction.
"""

from __future__ import annotations

from typing import Any

from dockyard.alarms.actions import ActionOutcome, ActionRouter, AlarmInvocation
from dockyard.alarms.store import record_actions
from dockyard.store import Store

STATE_ACTIONS = {
    "ALARM": "AlarmActions",
    "OK": "OKActions",
    "INSUFFICIENT_DATA": "InsufficientDataActions",
}
AUTOSCALING_PREFIX = "arn:aws:autoscaling:"


def actions_for_state(doc: dict[str, Any], state: str | None = None) -> list[str]:
    """The actions of the alarm's (or the given) state; none when actions are disabled."""
    if not doc.get("ActionsEnabled", True):
        return []
    return list(doc.get(STATE_ACTIONS[state or doc["StateValue"]]) or [])


def repeating_actions(doc: dict[str, Any]) -> list[str]:
    """Auto Scaling actions, which CloudWatch invokes again every period in the same state."""
    return [a for a in actions_for_state(doc) if a.startswith(AUTOSCALING_PREFIX)]


def invoke_actions(
    store: Store,
    router: ActionRouter | None,
    doc: dict[str, Any],
    actions: list[str],
    *,
    metric_value: float | None,
    now: float,
    record_successes: bool = True,
) -> list[ActionOutcome]:
    """Call each action through the router; write the outcomes to the alarm's history."""
    outcomes: list[ActionOutcome] = []
    for action_arn in actions:
        invocation = AlarmInvocation(
            action_arn=action_arn,
            alarm_name=doc["AlarmName"],
            alarm_arn=doc["AlarmArn"],
            state=doc["StateValue"],
            threshold=doc.get("Threshold"),
            metric_value=metric_value,
            reason=doc.get("StateReason", ""),
            timestamp=now,
        )
        if router is None:
            outcomes.append(ActionOutcome(False, "No action handlers are configured."))
        else:
            outcomes.append(router(invocation))
    entries = [
        (arn, o.succeeded, o.message)
        for arn, o in zip(actions, outcomes, strict=True)
        if record_successes or not o.succeeded
    ]
    if entries:
        with store.transaction() as tx:
            record_actions(tx, doc, entries, now)
    return outcomes
