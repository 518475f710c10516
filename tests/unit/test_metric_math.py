"""Metric math: parsing, CloudWatch's series semantics, errors."""

from __future__ import annotations

import math

import pytest

from dockyard.metrics import metric_data
from dockyard.metrics.math import MathError, as_series, evaluate, parse, references
from dockyard.metrics.model import Datapoint, MetricKey, StatisticSet

GRID = [0.0, 60.0, 120.0]
ENV = {
    "m1": {0.0: 1.0, 60.0: 2.0, 120.0: 3.0},
    "m2": {0.0: 10.0, 120.0: 30.0},
    "neg": {0.0: -4.0, 60.0: 4.0},
    "zero": {0.0: 0.0, 60.0: 2.0},
}


def run(text: str) -> object:
    return as_series(evaluate(parse(text), ENV, GRID, ["m1", "m2"]), GRID)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("m1", {0.0: 1.0, 60.0: 2.0, 120.0: 3.0}, id="ref"),
        pytest.param("m1 + m2", {0.0: 11.0, 120.0: 33.0}, id="series-plus-series-intersects"),
        pytest.param("m1 * 2 + 1", {0.0: 3.0, 60.0: 5.0, 120.0: 7.0}, id="precedence"),
        pytest.param("(m1 + 1) * 2", {0.0: 4.0, 60.0: 6.0, 120.0: 8.0}, id="parentheses"),
        pytest.param("100 - m1", {0.0: 99.0, 60.0: 98.0, 120.0: 97.0}, id="number-minus-series"),
        pytest.param("m2 / m1", {0.0: 10.0, 120.0: 10.0}, id="divide"),
        pytest.param("m1 / zero", {60.0: 1.0}, id="divide-by-zero-dropped"),
        pytest.param("-m1", {0.0: -1.0, 60.0: -2.0, 120.0: -3.0}, id="negate"),
        pytest.param("m1 ^ 2", {0.0: 1.0, 60.0: 4.0, 120.0: 9.0}, id="power"),
        pytest.param("ABS(neg)", {0.0: 4.0, 60.0: 4.0}, id="abs"),
        pytest.param("SUM(m1)", dict.fromkeys(GRID, 6.0), id="sum-of-one-series-is-a-number"),
        pytest.param("AVG(m1)", dict.fromkeys(GRID, 2.0), id="avg-number"),
        pytest.param("MAX(m1) - MIN(m1)", dict.fromkeys(GRID, 2.0), id="max-minus-min"),
        pytest.param("SUM([m1, m2])", {0.0: 11.0, 60.0: 2.0, 120.0: 33.0}, id="sum-array"),
        pytest.param("AVG([m1, m2])", {0.0: 5.5, 60.0: 2.0, 120.0: 16.5}, id="avg-array"),
        pytest.param("MAX(METRICS())", {0.0: 10.0, 60.0: 2.0, 120.0: 30.0}, id="metrics"),
        pytest.param("FILL(m2, 0)", {0.0: 10.0, 60.0: 0.0, 120.0: 30.0}, id="fill"),
        pytest.param("FILL(m2, 5) + m1", {0.0: 11.0, 60.0: 7.0, 120.0: 33.0}, id="fill-then-add"),
        pytest.param("2 * 3.5", dict.fromkeys(GRID, 7.0), id="constant"),
        pytest.param("1 / 0", {}, id="constant-not-finite"),
    ],
)
def test_evaluate(expression: str, expected: dict[float, float]) -> None:
    assert run(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("m1 +", "end of expression", id="dangling-operator"),
        pytest.param("(m1", "end of expression", id="unclosed"),
        pytest.param("m1 m2", "Unexpected 'm2'", id="two-operands"),
        pytest.param("m9", "Unrecognized metric identifier 'm9'", id="unknown-id"),
        pytest.param("FOO(m1)", "Unknown function FOO", id="unknown-function"),
        pytest.param("M1 + 1", "Unrecognized metric identifier 'M1'", id="uppercase-id"),
        pytest.param("m1 % 2", "Unexpected character '%'", id="bad-character"),
        pytest.param("[m1, m2]", "array of time series", id="array-result"),
        pytest.param("FILL(m1)", "FILL takes", id="fill-arity"),
        pytest.param("ABS(m1, m2)", "ABS takes one", id="abs-arity"),
        pytest.param("[m1] + [m2]", "two arrays", id="array-plus-array"),
    ],
)
def test_errors(expression: str, message: str) -> None:
    with pytest.raises(MathError, match=message.replace("(", r"\(")):
        run(expression)


@pytest.mark.parametrize(
    ("expression", "ids"),
    [("m1 + SUM([m2, e1]) * 3", {"m1", "m2", "e1"}), ("2 + 2", set()), ("ABS(x)", {"x"})],
)
def test_references(expression: str, ids: set[str]) -> None:
    assert references(parse(expression)) == ids


def test_sum_of_empty_series_is_not_a_number() -> None:
    value = evaluate(parse("SUM(m1)"), {"m1": {}}, GRID)
    assert isinstance(value, float) and math.isnan(value)
    assert as_series(value, GRID) == {}


# --- GetMetricData's engine (metric_data.run) over a fake fetch -----------------------------

NS = {"Namespace": "App", "MetricName": "Hits"}


def fetch(
    key: MetricKey, start: float, end: float, period: int, unit: str | None
) -> list[Datapoint]:
    assert key == MetricKey.of("App", "Hits")
    return [Datapoint(0.0, StatisticSet.of(1, 3)), Datapoint(60.0, StatisticSet.of(5))]


def stat(qid: str, statistic: str = "Sum", **extra: object) -> dict[str, object]:
    return {"Id": qid, "MetricStat": {"Metric": NS, "Period": 60, "Stat": statistic}, **extra}


@pytest.mark.parametrize(
    ("queries", "expected"),
    [
        pytest.param([stat("m1")], {"m1": {0.0: 4.0, 60.0: 5.0}}, id="metric-stat"),
        pytest.param([stat("m1", "Average")], {"m1": {0.0: 2.0, 60.0: 5.0}}, id="average"),
        pytest.param(
            [
                {"Id": "e2", "Expression": "e1 + 1"},
                {"Id": "e1", "Expression": "m1 * 2"},
                stat("m1", ReturnData=False),
            ],
            {"e2": {0.0: 9.0, 60.0: 11.0}, "e1": {0.0: 8.0, 60.0: 10.0}},
            id="expression-order-independent",
        ),
    ],
)
def test_metric_data_run(queries: list[dict[str, object]], expected: dict[str, object]) -> None:
    results = metric_data.run(queries, 0, 120, fetch)
    assert {r.id: r.series for r in results} == expected


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        pytest.param([stat("M1")], "Invalid metric id", id="uppercase-id"),
        pytest.param([stat("m1"), stat("m1")], "not unique", id="duplicate"),
        pytest.param([{"Id": "e1"}], "Exactly one of", id="neither"),
        pytest.param([stat("m1", "p99")], "statistic 'p99'", id="percentile"),
        pytest.param([stat("m1", ReturnData=False)], "must return data", id="no-return"),
        pytest.param(
            [{"Id": "a", "Expression": "b"}, {"Id": "b", "Expression": "a"}],
            "Circular dependency",
            id="cycle",
        ),
        pytest.param([{"Id": "e1", "Expression": "x + 1"}], "Unrecognized", id="unknown"),
    ],
)
def test_metric_data_errors(queries: list[dict[str, object]], message: str) -> None:
    with pytest.raises(metric_data.QueryError, match=message):
        metric_data.run(queries, 0, 120, fetch)
