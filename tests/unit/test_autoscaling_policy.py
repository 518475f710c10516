"""Application Auto Scaling policy math (dockyard.autoscaling.policy): table cases + properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.autoscaling.policy import (
    AT_DESIRED,
    AT_MAX,
    AT_MIN,
    COOLDOWN,
    NO_STEP,
    SCALE_IN_DISABLED,
    SUSPENDED,
    Capacity,
    Cooldown,
    Suspended,
    clamp_only,
    matching_step,
    percent_change,
    step_scaling,
    target_tracking,
)

NOW = 1000.0


@pytest.mark.parametrize(
    ("current", "minimum", "maximum", "metric", "target", "desired", "reason"),
    [
        pytest.param(2, 1, 10, 150.0, 50.0, 6, None, id="out-ceil-2x3"),
        pytest.param(1, 1, 10, 300.0, 50.0, 6, None, id="out-1-to-6"),
        pytest.param(3, 1, 10, 51.0, 50.0, 4, None, id="out-just-above-rounds-up"),
        pytest.param(4, 1, 5, 200.0, 50.0, 5, None, id="out-clamped-to-max"),
        pytest.param(5, 1, 5, 200.0, 50.0, 5, AT_MAX, id="out-already-at-max"),
        pytest.param(6, 1, 10, 20.0, 50.0, 3, None, id="in-ceil-2.4-to-3"),
        pytest.param(3, 1, 10, 40.0, 50.0, 3, AT_DESIRED, id="in-conservative-stays"),
        pytest.param(4, 2, 10, 1.0, 50.0, 2, None, id="in-clamped-to-min"),
        pytest.param(2, 2, 10, 1.0, 50.0, 2, AT_MIN, id="in-already-at-min"),
        pytest.param(3, 1, 10, 0.7, 0.35, 6, None, id="float-exact-no-extra-task"),
        pytest.param(0, 0, 10, 10.0, 50.0, 1, None, id="from-zero-starts-one"),
        pytest.param(12, 1, 10, 50.0, 50.0, 10, None, id="above-max-clamps-down"),
        pytest.param(0, 2, 10, 0.0, 50.0, 2, None, id="below-min-clamps-up"),
    ],
)
def test_target_tracking(
    current: int,
    minimum: int,
    maximum: int,
    metric: float,
    target: float,
    desired: int,
    reason: str | None,
) -> None:
    decision = target_tracking(Capacity(current, minimum, maximum), metric, target, now=NOW)
    assert decision.desired == desired
    assert decision.not_scaled == reason
    assert decision.scaled == (reason is None)


@pytest.mark.parametrize(
    ("kwargs", "current", "metric", "desired", "reason"),
    [
        pytest.param({"disable_scale_in": True}, 6, 10.0, 6, SCALE_IN_DISABLED, id="disable-in"),
        pytest.param({"disable_scale_in": True}, 2, 100.0, 4, None, id="disable-in-still-out"),
        pytest.param(
            {"suspended": Suspended(scale_out=True)}, 2, 100.0, 2, SUSPENDED, id="out-suspended"
        ),
        pytest.param(
            {"suspended": Suspended(scale_in=True)}, 6, 10.0, 6, SUSPENDED, id="in-suspended"
        ),
        pytest.param(
            {"cooldown": Cooldown(NOW + 60, 2, None)}, 6, 10.0, 6, COOLDOWN, id="in-blocked-by-out"
        ),
        pytest.param(
            {"cooldown": Cooldown(None, None, NOW + 60)},
            6,
            10.0,
            6,
            COOLDOWN,
            id="in-blocked-by-in",
        ),
        pytest.param(
            {"cooldown": Cooldown(None, None, NOW + 60)}, 2, 100.0, 4, None, id="out-during-in-cd"
        ),
        # base 2 (before the in-progress 2 -> 6): ceil(2 x 4) = 8 > 6: add the difference.
        pytest.param(
            {"cooldown": Cooldown(NOW + 60, 2, None)}, 6, 200.0, 8, None, id="out-during-out-cd"
        ),
        # ceil(2 x 2) = 4 < 6: the in-progress scale-out covers it, and in is blocked.
        pytest.param(
            {"cooldown": Cooldown(NOW + 60, 2, None)}, 6, 100.0, 6, COOLDOWN, id="out-covered"
        ),
        pytest.param(
            {"cooldown": Cooldown(NOW - 1, 2, None)}, 6, 10.0, 2, None, id="cooldown-expired"
        ),
    ],
)
def test_target_tracking_rules(
    kwargs: dict[str, Any], current: int, metric: float, desired: int, reason: str | None
) -> None:
    decision = target_tracking(Capacity(current, 1, 10), metric, 50.0, now=NOW, **kwargs)
    assert (decision.desired, decision.not_scaled) == (desired, reason)


def test_cooldown_state_after_scale_out_keeps_the_first_base() -> None:
    first = target_tracking(Capacity(2, 1, 20), 150.0, 50.0, scale_out_cooldown=60, now=NOW)
    assert first.desired == 6 and first.cooldown == Cooldown(NOW + 60, 2, None)
    second = target_tracking(
        Capacity(6, 1, 20),
        250.0,
        50.0,
        cooldown=first.cooldown,
        scale_out_cooldown=60,
        now=NOW + 10,
    )
    assert second.desired == 10 and second.cooldown.scale_out_base == 2
    scale_in = target_tracking(Capacity(10, 1, 20), 10.0, 50.0, scale_in_cooldown=30, now=NOW + 100)
    assert scale_in.cooldown == Cooldown(None, None, NOW + 130)


STEPS = [
    {"MetricIntervalUpperBound": -10.0, "ScalingAdjustment": -2},
    {"MetricIntervalLowerBound": -10.0, "MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1},
    {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
    {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
]


@pytest.mark.parametrize(
    ("breach", "adjustment"),
    [
        pytest.param(-25.0, -2, id="below-all-open-lower"),
        pytest.param(-10.0, -1, id="lower-bound-inclusive"),
        pytest.param(-0.5, -1, id="just-below-threshold"),
        pytest.param(0.0, 1, id="at-threshold-upper-exclusive"),
        pytest.param(9.99, 1, id="inside"),
        pytest.param(10.0, 3, id="open-upper"),
    ],
)
def test_matching_step(breach: float, adjustment: int) -> None:
    step = matching_step(STEPS, breach)
    assert step is not None and step["ScalingAdjustment"] == adjustment


def test_no_matching_step() -> None:
    assert matching_step(STEPS[2:], -1.0) is None
    decision = step_scaling(Capacity(3, 1, 10), 60.0, 70.0, {"StepAdjustments": STEPS[2:]})
    assert decision.not_scaled == NO_STEP and decision.desired == 3


@pytest.mark.parametrize(
    ("current", "percent", "magnitude", "change"),
    [
        pytest.param(10, 127, None, 12, id="12.7-down-to-12"),
        pytest.param(1, 67, None, 1, id="0.67-up-to-1"),
        pytest.param(1, -58, None, -1, id="-0.58-to--1"),
        pytest.param(3, -222, None, -6, id="-6.67-up-to--6"),
        pytest.param(10, 30, None, 3, id="exact-3"),
        pytest.param(10, 10, 3, 3, id="min-magnitude-raises"),
        pytest.param(10, -10, 3, -3, id="min-magnitude-negative"),
        pytest.param(10, 50, 2, 5, id="min-magnitude-not-needed"),
        pytest.param(0, 50, 2, 0, id="zero-capacity-no-change"),
    ],
)
def test_percent_change(current: int, percent: float, magnitude: int | None, change: int) -> None:
    assert percent_change(current, percent, magnitude) == change


@pytest.mark.parametrize(
    ("config", "current", "metric", "desired", "reason"),
    [
        pytest.param({"StepAdjustments": STEPS}, 2, 85.0, 5, None, id="change-+3"),
        pytest.param({"StepAdjustments": STEPS}, 2, 75.0, 3, None, id="change-+1"),
        pytest.param({"StepAdjustments": STEPS}, 4, 65.0, 3, None, id="change--1"),
        pytest.param({"StepAdjustments": STEPS}, 9, 90.0, 10, None, id="clamped-max"),
        pytest.param({"StepAdjustments": STEPS}, 10, 90.0, 10, AT_MAX, id="at-max"),
        pytest.param({"StepAdjustments": STEPS}, 1, 50.0, 1, AT_MIN, id="at-min"),
        pytest.param(
            {"AdjustmentType": "ExactCapacity", "StepAdjustments": [{"ScalingAdjustment": 7}]},
            2,
            71.0,
            7,
            None,
            id="exact",
        ),
        pytest.param(
            {
                "AdjustmentType": "PercentChangeInCapacity",
                "MinAdjustmentMagnitude": 2,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 10}],
            },
            4,
            71.0,
            6,
            None,
            id="percent-min-magnitude",
        ),
    ],
)
def test_step_scaling(
    config: dict[str, Any], current: int, metric: float, desired: int, reason: str | None
) -> None:
    decision = step_scaling(Capacity(current, 1, 10), metric, 70.0, config, now=NOW)
    assert (decision.desired, decision.not_scaled) == (desired, reason)


def test_step_cooldown_adds_only_the_difference() -> None:
    """AWS's example: +2 then, within the cooldown, a +3 step adds only 1 more; that
    scale-out starts a new cooldown (to NOW + 65)."""
    config = {
        "Cooldown": 60,
        "StepAdjustments": [
            {
                "MetricIntervalLowerBound": 0.0,
                "MetricIntervalUpperBound": 10.0,
                "ScalingAdjustment": 2,
            },
            {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
        ],
    }
    first = step_scaling(Capacity(4, 1, 20), 75.0, 70.0, config, now=NOW)
    assert first.desired == 6
    second = step_scaling(
        Capacity(6, 1, 20), 85.0, 70.0, config, cooldown=first.cooldown, now=NOW + 5
    )
    assert second.desired == 7
    again = step_scaling(
        Capacity(7, 1, 20), 75.0, 70.0, config, cooldown=second.cooldown, now=NOW + 9
    )
    assert again.scaled is False
    later = step_scaling(
        Capacity(7, 1, 20), 75.0, 70.0, config, cooldown=second.cooldown, now=NOW + 66
    )
    assert later.desired == 9


def test_step_scale_in_blocked_during_cooldown() -> None:
    config = {
        "Cooldown": 60,
        "StepAdjustments": [{"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1}],
    }
    cooldown = Cooldown(None, None, NOW + 30)
    blocked = step_scaling(Capacity(5, 1, 10), 60.0, 70.0, config, cooldown=cooldown, now=NOW)
    assert blocked.not_scaled == COOLDOWN
    done = step_scaling(Capacity(5, 1, 10), 60.0, 70.0, config, cooldown=cooldown, now=NOW + 31)
    assert done.desired == 4


@pytest.mark.parametrize(
    ("steps", "desired"),
    [
        pytest.param(STEPS, 4, id="at-threshold-scale-out-step"),
        pytest.param(STEPS[:2], 2, id="only-scale-in-steps-take-the-one-below"),
    ],
)
def test_step_without_metric_value_uses_the_threshold(
    steps: list[dict[str, Any]], desired: int
) -> None:
    """SetAlarmState hands no datapoint: the breach is 0 (or just below for scale-in)."""
    decision = step_scaling(Capacity(3, 1, 10), None, 70.0, {"StepAdjustments": steps})
    assert decision.desired == desired


def test_clamp_only() -> None:
    assert clamp_only(Capacity(12, 1, 10), Cooldown()).desired == 10
    assert clamp_only(Capacity(0, 2, 10), Cooldown()).desired == 2
    assert clamp_only(Capacity(5, 2, 10), Cooldown()).scaled is False


capacities = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 60)).map(
    lambda t: Capacity(t[2], min(t[0], t[1]), max(t[0], t[1]))
)
cooldowns = st.builds(
    Cooldown,
    st.none() | st.floats(NOW - 100, NOW + 100),
    st.none() | st.integers(0, 50),
    st.none() | st.floats(NOW - 100, NOW + 100),
)
metrics = st.floats(0, 10_000, allow_nan=False)


@given(capacities, metrics, st.floats(0.1, 1000), cooldowns, st.booleans())
def test_target_tracking_result_within_bounds_when_scaled(
    capacity: Capacity, metric: float, target: float, cooldown: Cooldown, disable_in: bool
) -> None:
    decision = target_tracking(
        capacity, metric, target, cooldown=cooldown, disable_scale_in=disable_in, now=NOW
    )
    if decision.scaled:
        assert capacity.minimum <= decision.desired <= capacity.maximum
    else:
        assert decision.desired == capacity.current


@given(capacities, metrics, st.floats(0.1, 1000), cooldowns)
def test_disable_scale_in_never_lowers_within_bounds(
    capacity: Capacity, metric: float, target: float, cooldown: Cooldown
) -> None:
    decision = target_tracking(
        capacity, metric, target, cooldown=cooldown, disable_scale_in=True, now=NOW
    )
    if capacity.current <= capacity.maximum:
        assert decision.desired >= capacity.current


@given(
    capacities,
    metrics,
    cooldowns,
    st.integers(-20, 20),
    st.sampled_from(["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]),
)
def test_step_scaling_within_bounds(
    capacity: Capacity, metric: float, cooldown: Cooldown, adjustment: int, kind: str
) -> None:
    config = {"AdjustmentType": kind, "StepAdjustments": [{"ScalingAdjustment": adjustment}]}
    decision = step_scaling(capacity, metric, 50.0, config, cooldown=cooldown, now=NOW)
    if decision.scaled:
        assert capacity.minimum <= decision.desired <= capacity.maximum
    else:
        assert decision.desired == capacity.current


@given(capacities, metrics, st.floats(0.1, 1000))
def test_suspended_both_ways_changes_nothing_inside_bounds(
    capacity: Capacity, metric: float, target: float
) -> None:
    decision = target_tracking(capacity, metric, target, suspended=Suspended(True, True), now=NOW)
    if capacity.minimum <= capacity.current <= capacity.maximum:
        assert decision.desired == capacity.current
