"""GetMetricData's engine: checks the queries, fetches MetricStat series, evaluates
expressions in dependency order, returns one series per query that returns data.

Pure apart from `fetch(key, start, end, period, unit) -> [Datapoint]`, injected so
the alarm evaluator and the tests can call it with any source.

    queries --check ids/kinds--> MetricStat: fetch -> statistic per period
                                 Expression: parse -> topological order -> evaluate
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.metrics import math as mm
from dockyard.metrics.model import STATISTICS, Datapoint, MetricKey, StatisticSet

Fetch = Callable[[MetricKey, float, float, int, str | None], list[Datapoint]]
ID_PATTERN = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
MAX_QUERIES = 500


class QueryError(ValueError):
    """A request the API answers with an error; `code` is CloudWatch's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SeriesResult:
    id: str
    label: str
    series: dict[float, float]  # timestamp -> value, any order


def valid_period(period: int) -> bool:
    """CloudWatch's rule: 1, 5, 10, 30 or any multiple of 60."""
    return period in (1, 5, 10, 30) or (period > 0 and period % 60 == 0)


def grid(start: float, end: float, period: int) -> list[float]:
    """Every period start (epoch-aligned) from start's period up to end (exclusive)."""
    first = math.floor(start / period) * period
    return [float(t) for t in range(int(first), math.ceil(end), period)]


def _check(queries: Sequence[Mapping[str, Any]]) -> None:
    if not queries:
        raise QueryError("ValidationError", "The parameter MetricDataQueries must not be empty.")
    if len(queries) > MAX_QUERIES:
        raise QueryError(
            "ValidationError",
            f"The collection MetricDataQueries must not contain more than {MAX_QUERIES} items.",
        )
    seen: set[str] = set()
    for number, query in enumerate(queries, 1):
        qid = str(query["Id"])
        if not ID_PATTERN.match(qid):
            raise QueryError(
                "ValidationError",
                f"Invalid metric id {qid!r} in MetricDataQueries.member.{number}.Id: it must "
                "start with a lowercase letter and contain only letters, numbers and underscores.",
            )
        if qid in seen:
            raise QueryError(
                "ValidationError",
                "The values for parameter id in MetricDataQueries are not unique.",
            )
        seen.add(qid)
        has_stat, has_expr = "MetricStat" in query, "Expression" in query
        if has_stat == has_expr:
            raise QueryError(
                "ValidationError",
                f"Exactly one of MetricStat and Expression must be set for query {qid!r}.",
            )
        if has_stat:
            stat = query["MetricStat"]
            if stat["Stat"] not in STATISTICS:
                raise QueryError(
                    "ValidationError",
                    f"The statistic {stat['Stat']!r} of query {qid!r} is not supported; "
                    f"use one of {', '.join(STATISTICS)}.",
                )
            if not valid_period(int(stat["Period"])):
                raise QueryError(
                    "ValidationError",
                    f"The Period of query {qid!r} must be 1, 5, 10, 30 or a multiple of 60.",
                )
    if not any(q.get("ReturnData", True) for q in queries):
        raise QueryError(
            "ValidationError", "At least one query of MetricDataQueries must return data."
        )


def _order(expressions: Mapping[str, mm.Node], known: set[str]) -> list[str]:
    """Expression ids so that each comes after what it reads; refuses cycles."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done

    def visit(qid: str) -> None:
        if state.get(qid) == 2:
            return
        if state.get(qid) == 1:
            raise QueryError("ValidationError", f"Circular dependency in expression {qid!r}.")
        state[qid] = 1
        for ref in sorted(mm.references(expressions[qid])):
            if ref in expressions:
                visit(ref)
            elif ref not in known:
                raise QueryError(
                    "ValidationError",
                    f"Error in expression {qid!r}: Unrecognized metric identifier {ref!r}.",
                )
        state[qid] = 2
        order.append(qid)

    for qid in expressions:
        visit(qid)
    return order


def run(
    queries: Sequence[Mapping[str, Any]], start: float, end: float, fetch: Fetch
) -> list[SeriesResult]:
    """Series of the queries with ReturnData (default true), in request order."""
    _check(queries)
    env: dict[str, mm.Series] = {}
    periods: dict[str, int] = {}
    labels: dict[str, str] = {}
    expressions: dict[str, mm.Node] = {}
    for query in queries:
        qid = str(query["Id"])
        if "MetricStat" in query:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = MetricKey.from_aws(
                metric.get("Namespace", ""), metric.get("MetricName", ""), metric.get("Dimensions")
            )
            period = int(stat["Period"])
            env[qid] = _statistic(fetch(key, start, end, period, stat.get("Unit")), stat["Stat"])
            periods[qid] = period
            labels[qid] = query.get("Label") or key.name
        else:
            try:
                expressions[qid] = mm.parse(str(query["Expression"]))
            except mm.MathError as error:
                raise QueryError(
                    "ValidationError", f"Error in expression {qid!r}: {error}"
                ) from None
            labels[qid] = query.get("Label") or qid
    metric_ids = list(env)
    for qid in _order(expressions, set(env)):
        node = expressions[qid]
        refs = mm.references(node) or set(metric_ids)
        query = next(q for q in queries if q["Id"] == qid)
        period = int(
            query.get("Period") or min((periods[r] for r in refs if r in periods), default=60)
        )
        periods[qid] = period
        try:
            points = grid(start, end, period)
            env[qid] = mm.as_series(mm.evaluate(node, env, points, metric_ids), points)
        except mm.MathError as error:
            raise QueryError("ValidationError", f"Error in expression {qid!r}: {error}") from None
    return [
        SeriesResult(str(q["Id"]), labels[str(q["Id"])], env[str(q["Id"])])
        for q in queries
        if q.get("ReturnData", True)
    ]


def _statistic(points: list[Datapoint], stat: str) -> dict[float, float]:
    """One value per timestamp (datapoints of several units at one time are merged)."""
    merged: dict[float, StatisticSet] = {}
    for point in points:
        merged.setdefault(point.timestamp, StatisticSet()).merge(point.stats)
    return {ts: stats.statistic(stat) for ts, stats in merged.items()}
