"""What an alarm hands to whoever owns an action ARN (today: Application Auto Scaling).

The alarm controller calls an `ActionSink` for each action of an alarm's state
(AlarmActions / OKActions / InsufficientDataActions) when the state changes, and,
for Auto Scaling policy actions, again every period while the alarm stays in it,
as CloudWatch does for Auto Scaling actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("dockyard.alarms.actions")


@dataclass(frozen=True)
class AlarmInvocation:
    action_arn: str
    alarm_name: str
    alarm_arn: str
    state: str  # ALARM | OK | INSUFFICIENT_DATA
    threshold: float | None
    metric_value: float | None  # the newest datapoint evaluated (None when there was none)
    reason: str  # the alarm's StateReason
    timestamp: float


ActionSink = Callable[[AlarmInvocation], None]


@dataclass(frozen=True)
class ActionOutcome:
    """What became of one invocation; written to the alarm's history as an Action item."""

    succeeded: bool
    message: str = ""


class ActionRouter:
    """Routes each action ARN to the sink registered for the longest matching prefix.

    One router per server (on `ApiContext.alarm_actions`); Application Auto Scaling
    registers `arn:aws:autoscaling:`. Unknown actions and failing sinks are logged
    and reported as failed, never raised: one bad action must not stop the others.
    """

    def __init__(self) -> None:
        self._sinks: dict[str, ActionSink] = {}

    def register(self, prefix: str, sink: ActionSink) -> None:
        self._sinks[prefix] = sink

    def sink_for(self, action_arn: str) -> ActionSink | None:
        matches = [p for p in self._sinks if action_arn.startswith(p)]
        return self._sinks[max(matches, key=len)] if matches else None

    def __call__(self, invocation: AlarmInvocation) -> ActionOutcome:
        sink = self.sink_for(invocation.action_arn)
        if sink is None:
            log.warning(
                "alarm %s: no handler for action %s", invocation.alarm_name, invocation.action_arn
            )
            return ActionOutcome(False, f"No handler for action {invocation.action_arn} here.")
        try:
            sink(invocation)
        except Exception as exc:
            log.exception(
                "alarm %s: action %s failed", invocation.alarm_name, invocation.action_arn
            )
            return ActionOutcome(False, str(exc) or type(exc).__name__)
        return ActionOutcome(True)
