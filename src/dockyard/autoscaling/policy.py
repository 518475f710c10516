"""Scaling policy math: `(capacity, metric, policy, cooldown state, now) -> Decision`, pure.

Neighbours: `controllers/scaling.py` reads the scalable target, the policy and the
service's desiredCount, calls `target_tracking` or `step_scaling` here, and applies
the Decision (desiredCount, cooldown state, a scaling activity). `schedule.py`
is the scheduled-action counterpart.

The rules are Application Auto Scaling's, as its documentation states them:

    target tracking   desired = ceil(current x metric / target), clamped to [min, max];
                      rounding up makes scale-in conservative (3 tasks at 40 % for a 50 %
                      target stay at ceil(2.4) = 3); DisableScaleIn never lowers it.
    step scaling      breach = metric - alarm threshold; the step whose
                      [lower, upper) interval holds the breach gives the adjustment
                      (a missing lower bound is -inf, a missing upper bound +inf).
    percent change    truncated toward zero, but at least 1 in magnitude
                      (12.7 -> 12, 0.67 -> 1, -0.58 -> -1, -6.67 -> -6), then raised to
                      MinAdjustmentMagnitude.
    cooldowns         during a scale-out cooldown, the capacity the in-progress
                      scale-out added counts as part of the next one: the next result is
                      computed from the capacity *before* it and applied only if higher
                      (alarm +2 then +3 within the cooldown adds 1 more);
                      scale-in is blocked while any cooldown runs; a scale-out during a
                      scale-in cooldown happens at once and ends that cooldown.
    suspended state   DynamicScalingOutSuspended / DynamicScalingInSuspended block that
                      direction (ScheduledScalingSuspended is schedule.py's business).

No store, no clock: `now` is given, so equal inputs give equal decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EPSILON = 1e-9  # 3 x 0.7 / 0.35 must give 6, not 7, in floating point

# NotScaledReasons codes (DescribeScalingActivities with IncludeNotScaledActivities).
AT_MAX = "AlreadyAtMaxCapacity"
AT_MIN = "AlreadyAtMinCapacity"
AT_DESIRED = "AlreadyAtDesiredCapacity"
# Silent skips: AWS records no activity for these; the controller only logs them.
COOLDOWN = "Cooldown"
SUSPENDED = "Suspended"
SCALE_IN_DISABLED = "ScaleInDisabled"
NO_STEP = "NoMatchingStep"
NO_DATA = "NoMetricValue"
SILENT = frozenset({COOLDOWN, SUSPENDED, SCALE_IN_DISABLED, NO_STEP, NO_DATA})


@dataclass(frozen=True, slots=True)
class Capacity:
    current: int  # the service's desiredCount now (may lie outside [minimum, maximum])
    minimum: int
    maximum: int

    def clamp(self, value: int) -> int:
        return max(self.minimum, min(self.maximum, value))


@dataclass(frozen=True, slots=True)
class Cooldown:
    """The scalable target's cooldown state, kept between decisions."""

    scale_out_until: float | None = None
    scale_out_base: int | None = None  # capacity before the scale-out in progress
    scale_in_until: float | None = None

    def scaling_out(self, now: float) -> bool:
        return self.scale_out_until is not None and now < self.scale_out_until

    def scaling_in(self, now: float) -> bool:
        return self.scale_in_until is not None and now < self.scale_in_until

    def to_doc(self) -> dict[str, Any]:
        return {
            "scaleOutUntil": self.scale_out_until,
            "scaleOutBase": self.scale_out_base,
            "scaleInUntil": self.scale_in_until,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Cooldown:
        doc = doc or {}
        return cls(doc.get("scaleOutUntil"), doc.get("scaleOutBase"), doc.get("scaleInUntil"))


@dataclass(frozen=True, slots=True)
class Suspended:
    scale_in: bool = False
    scale_out: bool = False

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Suspended:
        doc = doc or {}
        return cls(
            bool(doc.get("DynamicScalingInSuspended")), bool(doc.get("DynamicScalingOutSuspended"))
        )


@dataclass(frozen=True, slots=True)
class Decision:
    desired: int  # the capacity to set (== current when nothing changes)
    scaled: bool
    not_scaled: str | None = None  # one of the codes above when nothing changes
    cooldown: Cooldown = Cooldown()  # the state to keep after this decision

    @property
    def recorded(self) -> bool:
        """AWS shows this decision as an activity (scaled, or not scaled at a limit)."""
        return self.scaled or self.not_scaled not in SILENT


def clamp_only(capacity: Capacity, cooldown: Cooldown) -> Decision:
    """Bring a capacity outside [min, max] back inside (after a min/max change)."""
    wanted = capacity.clamp(capacity.current)
    if wanted == capacity.current:
        return Decision(capacity.current, False, AT_DESIRED, cooldown)
    return Decision(wanted, True, None, cooldown)


def _decide(
    capacity: Capacity,
    computed: int,
    base: int,
    *,
    scale_out_cooldown: float,
    scale_in_cooldown: float,
    cooldown: Cooldown,
    suspended: Suspended,
    disable_scale_in: bool,
    now: float,
) -> Decision:
    """Turn a computed capacity into a decision under clamps, cooldowns and suspension."""
    current = capacity.current
    wanted = capacity.clamp(computed)
    if wanted > current:
        if suspended.scale_out:
            return Decision(current, False, SUSPENDED, cooldown)
        # A later scale-out within the cooldown keeps the original base.
        keep_base = base if cooldown.scaling_out(now) else current
        after = Cooldown(now + scale_out_cooldown, keep_base, None)
        return Decision(wanted, True, None, after)
    if wanted < current:
        # computed >= current: current lies above a lowered maximum; the clamp is not a
        # scale-in decision, so DisableScaleIn, suspension and cooldowns do not hold it.
        if computed < current:
            if disable_scale_in:
                return Decision(current, False, SCALE_IN_DISABLED, cooldown)
            if suspended.scale_in:
                return Decision(current, False, SUSPENDED, cooldown)
            if cooldown.scaling_out(now) or cooldown.scaling_in(now):
                return Decision(current, False, COOLDOWN, cooldown)
        return Decision(wanted, True, None, Cooldown(None, None, now + scale_in_cooldown))
    if computed > current >= capacity.maximum:
        return Decision(current, False, AT_MAX, cooldown)
    if computed < current <= capacity.minimum:
        return Decision(current, False, AT_MIN, cooldown)
    return Decision(current, False, AT_DESIRED, cooldown)


def target_tracking(
    capacity: Capacity,
    metric: float | None,
    target: float,
    *,
    cooldown: Cooldown = Cooldown(),
    suspended: Suspended = Suspended(),
    disable_scale_in: bool = False,
    scale_out_cooldown: float = 300.0,
    scale_in_cooldown: float = 300.0,
    now: float = 0.0,
) -> Decision:
    """desired = ceil(base x metric / target), base being the capacity before a scale-out
    still in its cooldown (the metric still reflects it), else the current capacity.

    Worked example, target 50, min 1, max 10: 2 tasks at 150 -> ceil(2 x 3) = 6;
    30 s later within a 300 s cooldown the metric reads 200 -> ceil(2 x 4) = 8 > 6: 8
    (only the difference beyond the in-progress +4 is added); at 60 it would be
    ceil(2 x 1.2) = 3 < 6: blocked (no scale-in during a cooldown).
    """
    if metric is None or target <= 0:
        return Decision(capacity.current, False, NO_DATA, cooldown)
    base = capacity.current
    if cooldown.scaling_out(now) and cooldown.scale_out_base is not None:
        base = cooldown.scale_out_base
    computed = math.ceil(base * metric / target - EPSILON)
    if base == 0 and metric > 0:
        computed = 1  # nothing running to share the load: start one
    return _decide(
        capacity,
        computed,
        base,
        scale_out_cooldown=scale_out_cooldown,
        scale_in_cooldown=scale_in_cooldown,
        cooldown=cooldown,
        suspended=suspended,
        disable_scale_in=disable_scale_in,
        now=now,
    )


def matching_step(steps: Sequence[Mapping[str, Any]], breach: float) -> Mapping[str, Any] | None:
    """The step whose [MetricIntervalLowerBound, MetricIntervalUpperBound) holds `breach`."""
    for step in steps:
        lower = step.get("MetricIntervalLowerBound")
        upper = step.get("MetricIntervalUpperBound")
        if (lower is None or breach >= lower) and (upper is None or breach < upper):
            return step
    return None


def percent_change(current: int, percent: float, min_magnitude: int | None = None) -> int:
    """AWS's rounding of PercentChangeInCapacity (see the module docstring)."""
    raw = current * percent / 100
    if raw == 0:
        return 0
    sign = 1 if raw > 0 else -1
    change = sign * max(1, math.floor(abs(raw) + EPSILON))
    if min_magnitude and change != 0 and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return change


def adjusted(base: int, adjustment_type: str, adjustment: int, min_magnitude: int | None) -> int:
    if adjustment_type == "ExactCapacity":
        return adjustment
    if adjustment_type == "PercentChangeInCapacity":
        return base + percent_change(base, adjustment, min_magnitude)
    return base + adjustment  # ChangeInCapacity


def step_scaling(
    capacity: Capacity,
    metric: float | None,
    threshold: float,
    config: Mapping[str, Any],
    *,
    cooldown: Cooldown = Cooldown(),
    suspended: Suspended = Suspended(),
    now: float = 0.0,
) -> Decision:
    """One StepScalingPolicyConfiguration applied to the alarm's newest datapoint.

    Worked example, steps [0, 10): +1 and [10, inf): +3, threshold 70, cooldown 60:
    metric 85 (breach 15) on 2 tasks -> 5; 20 s later metric 75 (breach 5) -> 2 + 1 = 3
    <= 5: nothing more; a scale-in step would wait until the cooldown has passed.
    """
    steps = config.get("StepAdjustments", [])
    if metric is None:
        # No datapoint (SetAlarmState): the breach is taken at the threshold itself,
        # on whichever side a step covers.
        step = matching_step(steps, 0.0) or matching_step(steps, -EPSILON)
    else:
        step = matching_step(steps, metric - threshold)
    if step is None:
        return Decision(capacity.current, False, NO_STEP, cooldown)
    kind = config.get("AdjustmentType", "ChangeInCapacity")
    adjustment = int(step["ScalingAdjustment"])
    base = capacity.current
    growing = kind != "ExactCapacity" and adjustment > 0
    if growing and cooldown.scaling_out(now) and cooldown.scale_out_base is not None:
        base = cooldown.scale_out_base  # the in-progress scale-out is part of this one
    computed = adjusted(base, kind, adjustment, config.get("MinAdjustmentMagnitude"))
    period = float(config.get("Cooldown", 300))
    return _decide(
        capacity,
        computed,
        base,
        scale_out_cooldown=period,
        scale_in_cooldown=period,
        cooldown=cooldown,
        suspended=suspended,
        disable_scale_in=False,
        now=now,
    )
