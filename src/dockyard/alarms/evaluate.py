"""Alarm evaluation as CloudWatch documents it (pure: data in, state and reason out).

    complete periods in the evaluation range -> datapoints (value per period)
      -> pick the N to judge:
           >= N real datapoints: the N newest real ones (TreatMissingData unused)
           1..N-1 real: all of them, plus N - k missing ones treated per TreatMissingData
           none: missing -> INSUFFICIENT_DATA, ignore -> keep the state,
                 breaching -> ALARM, notBreaching -> OK
      -> ALARM when at least M (DatapointsToAlarm, default N) breach, else OK;
         with missing/ignore and too few real points to decide, the state is kept.

Only complete periods count: the range ends at the last period boundary before
`now`. The range reaches EXTRA_PERIODS further back than N so that a few missing
periods are bridged by older real datapoints, as CloudWatch's evaluation range does.
Reasons and StateReasonData are written the way CloudWatch writes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EXTRA_PERIODS = 2

OPERATOR_TEXT = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


@dataclass(frozen=True)
class AlarmConfig:
    """What evaluation needs of an alarm (a MetricAlarm document's fields)."""

    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    datapoints_to_alarm: int | None = None
    treat_missing: str = "missing"
    statistic: str = "Average"

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AlarmConfig:
        return cls(
            period=int(doc["Period"]),
            evaluation_periods=int(doc["EvaluationPeriods"]),
            threshold=float(doc["Threshold"]),
            comparison=doc["ComparisonOperator"],
            datapoints_to_alarm=doc.get("DatapointsToAlarm"),
            treat_missing=doc.get("TreatMissingData") or "missing",
            statistic=doc.get("Statistic", "Average"),
        )

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    def breaches(self, value: float) -> bool:
        if self.comparison == "GreaterThanOrEqualToThreshold":
            return value >= self.threshold
        if self.comparison == "GreaterThanThreshold":
            return value > self.threshold
        if self.comparison == "LessThanThreshold":
            return value < self.threshold
        if self.comparison == "LessThanOrEqualToThreshold":
            return value <= self.threshold
        raise ValueError(f"unsupported comparison operator {self.comparison!r}")


@dataclass(frozen=True)
class Point:
    """One period's statistic: `timestamp` is the period's start."""

    timestamp: float
    value: float
    sample_count: float = 1.0


@dataclass(frozen=True)
class Evaluation:
    state: str  # OK | ALARM | INSUFFICIENT_DATA; equal to the current state when kept
    reason: str
    reason_data: str  # StateReasonData (JSON text)
    newest_value: float | None  # the newest real datapoint judged


def evaluation_range(config: AlarmConfig, now: float) -> tuple[float, float]:
    """[start, end) of the complete periods an evaluation at `now` reads."""
    end = math.floor(now / config.period) * config.period
    return end - (config.evaluation_periods + EXTRA_PERIODS) * config.period, float(end)


def java_double(value: float) -> str:
    """Numbers as CloudWatch prints them (Java's Double.toString): 50.0, 81.2, 1.0E7."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    mantissa, exponent = f"{value:.16E}".split("E")
    digits = repr(float(mantissa))
    return f"{digits}E{int(exponent)}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listing(points: list[Point]) -> str:
    return ", ".join(f"{java_double(p.value)} ({_when(p.timestamp)})" for p in points)


def _reason_data(config: AlarmConfig, judged: list[Point], missing: list[float], now: float) -> str:
    evaluated: list[dict[str, Any]] = [
        {"timestamp": _iso(p.timestamp), "sampleCount": p.sample_count, "value": p.value}
        for p in judged
    ]
    evaluated += [{"timestamp": _iso(t)} for t in missing]
    evaluated.sort(key=lambda item: str(item["timestamp"]), reverse=True)
    times = [p.timestamp for p in judged] + missing
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now)}
    if times:
        data["startDate"] = _iso(min(times))
    data |= {
        "statistic": config.statistic,
        "period": config.period,
        "recentDatapoints": [p.value for p in sorted(judged, key=lambda p: p.timestamp)],
        "threshold": config.threshold,
        "evaluatedDatapoints": evaluated,
    }
    return json.dumps(data, separators=(",", ":"))


def _crossed(
    config: AlarmConfig,
    state: str,
    current: str,
    judged: list[Point],
    *,
    filled: int = 0,
    fill_breaching: bool = False,
) -> str:
    """ "Threshold Crossed: ..." for a move to ALARM or OK."""
    n, m = config.evaluation_periods, config.m
    to_alarm = state == "ALARM"
    shown = [p for p in judged if config.breaches(p.value) == to_alarm]
    shown.sort(key=lambda p: p.timestamp, reverse=True)
    count = len(shown) + (filled if fill_breaching == to_alarm else 0)
    verb = "was" if count == 1 else "were"
    comparison = (
        OPERATOR_TEXT[config.comparison]
        if to_alarm
        else ("not " + OPERATOR_TEXT[config.comparison])
    )
    threshold = java_double(config.threshold)
    if filled == n:
        treated = "Breaching" if fill_breaching else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(n, 'missing datapoint')} {'was' if n == 1 else 'were'} treated as "
            f"[{treated}]."
        )
    if n == 1 and m == 1 and not filled:
        return (
            f"Threshold Crossed: 1 datapoint [{_listing(shown)}] {verb} {comparison} the "
            f"threshold ({threshold})."
        )
    minimum = m if to_alarm else n - m + 1
    text = (
        f"Threshold Crossed: {count} out of the last {n} datapoints [{_listing(shown)}] {verb} "
        f"{comparison} the threshold ({threshold}) (minimum {_plural(minimum, 'datapoint')} for "
        f"{current} -> {state} transition)."
    )
    if filled:
        treated = "Breaching" if fill_breaching else "NonBreaching"
        text += (
            f" {_plural(filled, 'missing datapoint')} {'was' if filled == 1 else 'were'} "
            f"treated as [{treated}]."
        )
    return text


def evaluate(config: AlarmConfig, points: Iterable[Point], current: str, now: float) -> Evaluation:
    """The state an alarm should be in at `now`, given the datapoints of its metric."""
    start, end = evaluation_range(config, now)
    real = sorted(
        (p for p in points if start <= p.timestamp < end and not math.isnan(p.value)),
        key=lambda p: p.timestamp,
        reverse=True,
    )
    n, m = config.evaluation_periods, config.m
    judged = real[:n]
    filled = n - len(judged)
    taken = {p.timestamp for p in judged}
    missing = [
        end - (i + 1) * config.period
        for i in range(n + EXTRA_PERIODS)
        if end - (i + 1) * config.period not in taken
    ][:filled]
    newest = judged[0].value if judged else None
    data = _reason_data(config, judged, missing, now)
    breaching = sum(1 for p in judged if config.breaches(p.value))
    treat = config.treat_missing
    if filled and treat in ("breaching", "notBreaching"):
        fill_breaching = treat == "breaching"
        total = breaching + (filled if fill_breaching else 0)
        state = "ALARM" if total >= m else "OK"
        reason = _crossed(
            config, state, current, judged, filled=filled, fill_breaching=fill_breaching
        )
        return Evaluation(state, reason, data, newest)
    if not judged:
        if treat == "ignore":
            return Evaluation(current, "", data, None)
        verb = "was" if n == 1 else "were"
        reason = f"Insufficient Data: {_plural(n, 'datapoint')} {verb} unknown."
        return Evaluation("INSUFFICIENT_DATA", reason, data, None)
    if breaching >= m:
        state = "ALARM"
    elif breaching + filled < m:
        state = "OK"
    else:  # too few real datapoints to decide (missing / ignore): the state is kept
        return Evaluation(current, "", data, newest)
    return Evaluation(state, _crossed(config, state, current, judged), data, newest)
