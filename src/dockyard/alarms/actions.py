"""What an alarm hands to whoever owns an action ARN (today: Application Auto Scaling).

The alarm controller calls an `ActionSink` for each action of an alarm's state
(AlarmActions / OKActions / InsufficientDataActions) when the state changes, and,
for Auto Scaling policy actions, again every period while the alarm stays in it,
as CloudWatch does for Auto Scaling actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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
