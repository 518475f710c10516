"""Alarm evaluation (pure): M of N, missing-data treatment, complete periods, reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dockyard.alarms.evaluate import (
    EXTRA_PERIODS,
    AlarmConfig,
    Point,
    evaluate,
    evaluation_range,
    java_double,
)

PERIOD = 60
END = datetime(2026, 12, 2, 11, 21, tzinfo=UTC).timestamp()  # a period boundary
NOW = END + 5  # five seconds into the current (incomplete) period
HIGH, LOW = 90.0, 10.0  # against a threshold of 50


def series(pattern: str) -> list[Point]:
    """Datapoints from a pattern, oldest first: X breaching, 0 not breaching, - missing.

    The pattern covers the evaluation range (N + EXTRA_PERIODS periods) and ends with
    the last complete period.
    """
    marks = pattern.split()
    points = []
    for age, mark in enumerate(reversed(marks), start=1):
        if mark != "-":
            points.append(Point(END - age * PERIOD, HIGH if mark == "X" else LOW))
    return points


def config(n: int = 3, m: int | None = None, treat: str = "missing", op: str = "") -> AlarmConfig:
    return AlarmConfig(
        period=PERIOD,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=50.0,
        comparison=op or "GreaterThanOrEqualToThreshold",
        treat_missing=treat,
    )


@pytest.mark.parametrize(
    ("pattern", "m", "treat", "current", "expected"),
    [
        pytest.param("- - X X X", None, "missing", "OK", "ALARM", id="3-of-3-breaching"),
        pytest.param("- - 0 X X", None, "missing", "OK", "OK", id="2-of-3-with-m3"),
        pytest.param("- - 0 X X", 2, "missing", "OK", "ALARM", id="2-of-3-with-m2"),
        pytest.param("- - X 0 X", 2, "missing", "OK", "ALARM", id="m-of-n-not-consecutive"),
        pytest.param("- - X 0 0", 2, "missing", "ALARM", "OK", id="1-of-3-back-to-ok"),
        pytest.param("X X X X 0", None, "missing", "ALARM", "OK", id="only-newest-n-count"),
        # enough real datapoints further back in the range: treatment is not used
        pytest.param("X X 0 - -", 2, "notBreaching", "OK", "ALARM", id="bridge-gap-ignores-treat"),
        pytest.param("X 0 0 - -", 2, "breaching", "OK", "OK", id="bridge-gap-not-breaching"),
        # no datapoints at all
        pytest.param("- - - - -", None, "missing", "OK", "INSUFFICIENT_DATA", id="none-missing"),
        pytest.param("- - - - -", None, "ignore", "ALARM", "ALARM", id="none-ignore-keeps"),
        pytest.param("- - - - -", None, "ignore", "OK", "OK", id="none-ignore-keeps-ok"),
        pytest.param("- - - - -", None, "breaching", "OK", "ALARM", id="none-breaching"),
        pytest.param("- - - - -", None, "notBreaching", "ALARM", "OK", id="none-not-breaching"),
        # some datapoints: missing ones filled as the treatment says
        pytest.param("- - - - X", None, "breaching", "OK", "ALARM", id="1-real-fill-breaching"),
        pytest.param("- - - - X", None, "notBreaching", "ALARM", "OK", id="1-real-fill-ok"),
        pytest.param("- - - - X", 1, "notBreaching", "OK", "ALARM", id="1-real-m1-fill-ok"),
        pytest.param("- - - - 0", None, "breaching", "OK", "OK", id="1-ok-fill-breaching-m3"),
        pytest.param("- - - - 0", 2, "breaching", "OK", "ALARM", id="1-ok-fill-breaching-m2"),
        # missing / ignore with too few points: decided when the real ones settle it
        pytest.param("- - - - X", 1, "missing", "OK", "ALARM", id="1-real-enough-to-alarm"),
        pytest.param("- - - - 0", None, "missing", "ALARM", "OK", id="1-ok-alarm-impossible"),
        pytest.param("- - - - X", None, "missing", "OK", "OK", id="1-real-undecided-keeps-ok"),
        pytest.param(
            "- - - - X",
            None,
            "missing",
            "INSUFFICIENT_DATA",
            "INSUFFICIENT_DATA",
            id="1-real-undecided-keeps-insufficient",
        ),
        pytest.param("- - - X 0", 1, "ignore", "OK", "ALARM", id="ignore-partial-alarm"),
        pytest.param("- - - - 0", 2, "ignore", "ALARM", "ALARM", id="ignore-partial-undecided"),
        pytest.param("- - - 0 0", 2, "ignore", "ALARM", "OK", id="ignore-partial-alarm-impossible"),
    ],
)
def test_state(pattern: str, m: int | None, treat: str, current: str, expected: str) -> None:
    cfg = config(m=m, treat=treat)
    assert len(pattern.split()) == cfg.evaluation_periods + EXTRA_PERIODS
    assert evaluate(cfg, series(pattern), current, NOW).state == expected


@pytest.mark.parametrize(
    ("op", "value", "breaching"),
    [
        pytest.param("GreaterThanOrEqualToThreshold", 50.0, True, id="ge-equal"),
        pytest.param("GreaterThanOrEqualToThreshold", 49.9, False, id="ge-below"),
        pytest.param("GreaterThanThreshold", 50.0, False, id="gt-equal"),
        pytest.param("GreaterThanThreshold", 50.1, True, id="gt-above"),
        pytest.param("LessThanThreshold", 50.0, False, id="lt-equal"),
        pytest.param("LessThanThreshold", 10.0, True, id="lt-below"),
        pytest.param("LessThanOrEqualToThreshold", 50.0, True, id="le-equal"),
        pytest.param("LessThanOrEqualToThreshold", 50.1, False, id="le-above"),
    ],
)
def test_operators(op: str, value: float, breaching: bool) -> None:
    cfg = config(n=1, op=op)
    assert cfg.breaches(value) is breaching
    state = evaluate(cfg, [Point(END - PERIOD, value)], "INSUFFICIENT_DATA", NOW).state
    assert state == ("ALARM" if breaching else "OK")


def test_only_complete_periods_count() -> None:
    cfg = config(n=1)
    current_period = [Point(END, HIGH)]  # started at END, still running at NOW
    assert evaluate(cfg, current_period, "OK", NOW).state == "INSUFFICIENT_DATA"
    assert evaluate(cfg, current_period, "OK", END + PERIOD).state == "ALARM"  # once complete


def test_points_outside_the_range_are_ignored() -> None:
    cfg = config(n=1)
    start, end = evaluation_range(cfg, NOW)
    assert (start, end) == (END - (1 + EXTRA_PERIODS) * PERIOD, END)
    too_old = [Point(start - PERIOD, HIGH)]
    assert evaluate(cfg, too_old, "OK", NOW).state == "INSUFFICIENT_DATA"


def test_alarm_reason_as_cloudwatch_writes_it() -> None:
    points = [Point(END - 60, 81.2), Point(END - 120, 80.0), Point(END - 180, 95.5)]
    result = evaluate(config(), points, "OK", NOW)
    assert result.state == "ALARM"
    assert result.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints [81.2 (02/12/26 11:20:00), "
        "80.0 (02/12/26 11:19:00), 95.5 (02/12/26 11:18:00)] were greater than or equal to "
        "the threshold (50.0) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    assert result.newest_value == 81.2
    data = json.loads(result.reason_data)
    assert data["version"] == "1.0"
    assert data["statistic"] == "Average"
    assert data["period"] == 60
    assert data["threshold"] == 50.0
    assert data["startDate"] == "2026-12-02T11:18:00.000+0000"
    assert data["recentDatapoints"] == [95.5, 80.0, 81.2]
    assert data["evaluatedDatapoints"][0] == {
        "timestamp": "2026-12-02T11:20:00.000+0000",
        "sampleCount": 1.0,
        "value": 81.2,
    }


def test_ok_reason_lists_the_datapoints_within_the_threshold() -> None:
    points = [Point(END - 60, 10.0), Point(END - 120, 80.0), Point(END - 180, 95.5)]
    result = evaluate(config(m=3), points, "ALARM", NOW)
    assert result.state == "OK"
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 3 datapoints [10.0 (02/12/26 11:20:00)] was not "
        "greater than or equal to the threshold (50.0) (minimum 1 datapoint for "
        "ALARM -> OK transition)."
    )


def test_single_datapoint_reason() -> None:
    result = evaluate(config(n=1), [Point(END - 60, 2.0)], "INSUFFICIENT_DATA", NOW)
    assert result.reason == (
        "Threshold Crossed: 1 datapoint [2.0 (02/12/26 11:20:00)] was not greater than or "
        "equal to the threshold (50.0)."
    )


def test_missing_data_reasons() -> None:
    assert evaluate(config(), [], "OK", NOW).reason == (
        "Insufficient Data: 3 datapoints were unknown."
    )
    assert evaluate(config(treat="breaching"), [], "OK", NOW).reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing "
        "datapoints were treated as [Breaching]."
    )
    partial = evaluate(config(treat="notBreaching"), series("- - - - X"), "ALARM", NOW)
    assert partial.reason.endswith("2 missing datapoints were treated as [NonBreaching].")
    data = json.loads(partial.reason_data)
    assert len(data["evaluatedDatapoints"]) == 3
    assert [d.get("value") for d in data["evaluatedDatapoints"]] == [HIGH, None, None]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(50, "50.0", id="integral"),
        pytest.param(81.2, "81.2", id="decimal"),
        pytest.param(0.0, "0.0", id="zero"),
        pytest.param(-3.5, "-3.5", id="negative"),
        pytest.param(1e7, "1.0E7", id="large"),
        pytest.param(1.5e-4, "1.5E-4", id="small"),
    ],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


def test_from_doc_defaults() -> None:
    doc = {
        "Period": 10,
        "EvaluationPeriods": 5,
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        "Statistic": "Sum",
    }
    cfg = AlarmConfig.from_doc(doc)
    assert (cfg.m, cfg.treat_missing, cfg.statistic) == (5, "missing", "Sum")
    assert AlarmConfig.from_doc({**doc, "DatapointsToAlarm": 2}).m == 2
