"""CloudWatch metric actions: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics.

Thin: checks CloudWatch's own rules (what botocore's model cannot express), turns the
request into `MetricsStore` calls (`dockyard.metrics`) and shapes the answer. The
same handlers serve JSON 1.0 (timestamps arrive as epoch numbers) and the query
protocol (they arrive as datetimes); results carry epoch numbers, which both
protocols' writers turn into their timestamp forms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp

from dockyard.alarms.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import AwsError, ServerException
from dockyard.metrics import MetricsStore
from dockyard.metrics import metric_data as md
from dockyard.metrics.model import MetricKey, StatisticSet
from dockyard.metrics.store import Sample

MAX_DATAPOINTS = 1440  # GetMetricStatistics
DEFAULT_MAX_DATAPOINTS = 100_800  # GetMetricData
LIST_PAGE = 500
MAX_VALUES = 150
RECENTLY_ACTIVE_S = 3 * 3600
FUTURE_LIMIT_S = 2 * 3600


def _store(ctx: ApiContext) -> MetricsStore:
    if ctx.metrics is None:
        raise ServerException("Metrics are not enabled on this server.")
    return ctx.metrics


def epoch(value: Any) -> float:
    """A timestamp parameter as epoch seconds (JSON sends numbers, query datetimes)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return float(parse_timestamp(str(value)).timestamp())


# --- PutMetricData ------------------------------------------------------------------------


def _datum_samples(
    namespace: str, datum: Mapping[str, Any], path: str, now: float, oldest: float
) -> list[Sample]:
    """The statistic sets of one MetricDatum, after CloudWatch's checks."""
    given = [name for name in ("Value", "Values", "StatisticValues") if name in datum]
    if len(given) > 1:
        first, second = given[:2]
        raise InvalidParameterCombination(
            f"The parameters {path}.{first} and {path}.{second} are mutually exclusive and "
            "you have specified both."
        )
    if not given:
        raise MissingParameter(
            f"At least one of the parameters {path}.Value, {path}.Values or "
            f"{path}.StatisticValues must be specified."
        )
    if "Counts" in datum and "Values" not in datum:
        raise InvalidParameterCombination(f"The parameter {path}.Counts requires {path}.Values.")
    resolution = datum.get("StorageResolution", 60)
    if resolution not in (1, 60):
        raise InvalidParameterValue(
            f"The value {resolution} for parameter {path}.StorageResolution is invalid: "
            "it must be 1 or 60."
        )
    timestamp = epoch(datum["Timestamp"]) if "Timestamp" in datum else now
    if timestamp < oldest:
        raise InvalidParameterValue(
            f"The parameter {path}.Timestamp must specify a time within the past two weeks."
        )
    if timestamp > now + FUTURE_LIMIT_S:
        raise InvalidParameterValue(
            f"The parameter {path}.Timestamp must specify a time no more than two hours "
            "in the future."
        )
    stats = StatisticSet()
    if "Value" in datum:
        stats.add(_finite(datum["Value"], f"{path}.Value"))
    elif "Values" in datum:
        values, counts = datum["Values"], datum.get("Counts") or [1.0] * len(datum["Values"])
        if len(values) > MAX_VALUES:
            raise InvalidParameterValue(
                f"The collection {path}.Values must not contain more than {MAX_VALUES} items."
            )
        if len(counts) != len(values):
            raise InvalidParameterValue(
                f"The parameters {path}.Values and {path}.Counts must be of the same size."
            )
        for raw_value, raw_count in zip(values, counts, strict=True):
            value = _finite(raw_value, f"{path}.Values")
            count = _finite(raw_count, f"{path}.Counts")
            if count < 0:
                raise InvalidParameterValue(f"The parameter {path}.Counts must not be negative.")
            if count > 0:
                stats.merge(StatisticSet(count, value * count, value, value))
    else:
        raw = datum["StatisticValues"]
        sample_count, total = float(raw["SampleCount"]), float(raw["Sum"])
        low, high = float(raw["Minimum"]), float(raw["Maximum"])
        for name, value in (
            ("SampleCount", sample_count),
            ("Sum", total),
            ("Minimum", low),
            ("Maximum", high),
        ):
            _finite(value, f"{path}.StatisticValues.{name}")
        if sample_count <= 0:
            raise InvalidParameterValue(
                f"The parameter {path}.StatisticValues.SampleCount must be greater than 0."
            )
        if low > high:
            raise InvalidParameterValue(
                f"The parameter {path}.StatisticValues.Maximum must be greater than or equal "
                f"to {path}.StatisticValues.Minimum."
            )
        stats = StatisticSet(sample_count, total, low, high)
    key = MetricKey.from_aws(namespace, datum["MetricName"], datum.get("Dimensions"))
    if len(key.dimensions) != len(datum.get("Dimensions") or ()):
        raise InvalidParameterValue(f"The dimension names of {path}.Dimensions must be unique.")
    return [(key, timestamp, stats, datum.get("Unit", "None"))] if not stats.empty else []


def _finite(value: Any, name: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidParameterValue(f"The value {value} for parameter {name} is invalid.")
    return number


def put_metric_data(ctx: ApiContext, params: Params) -> Result:
    """Custom metrics in; durable (flushed) before the answer, as AWS acknowledges."""
    store = _store(ctx)
    namespace = params["Namespace"]
    if namespace.startswith("AWS/"):
        raise InvalidParameterValue("The value AWS/ for parameter Namespace is invalid.")
    data = params.get("MetricData") or []
    if not data:
        raise MissingParameter("The parameter MetricData is required.")
    if len(data) > 1000:
        raise InvalidParameterValue(
            "The collection MetricData must not contain more than 1000 items."
        )
    now = ctx.now()
    oldest = now - min(store.retention_s, 14 * 86400)
    samples: list[Sample] = []
    for number, datum in enumerate(data, 1):  # check everything before writing anything
        samples.extend(_datum_samples(namespace, datum, f"MetricData.member.{number}", now, oldest))
    store.put(samples)
    store.flush()
    return {}


# --- GetMetricStatistics ------------------------------------------------------------------


def _check_range(start: float, end: float, period: int) -> None:
    if start >= end:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )
    if not md.valid_period(period):
        raise InvalidParameterValue(
            f"The parameter Period must be 1, 5, 10, 30 or a multiple of 60; got {period}."
        )


def get_metric_statistics(ctx: ApiContext, params: Params) -> Result:
    store = _store(ctx)
    start, end, period = epoch(params["StartTime"]), epoch(params["EndTime"]), params["Period"]
    _check_range(start, end, period)
    statistics = params.get("Statistics") or []
    if params.get("ExtendedStatistics"):
        raise InvalidParameterValue(
            "ExtendedStatistics (percentiles) are not supported: only statistic sets are kept."
        )
    if not statistics:
        raise MissingParameter("Must specify either Statistics or ExtendedStatistics.")
    requested = math.ceil((end - start) / period)
    if requested > MAX_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of "
            f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
            "or decreasing the time range."
        )
    key = MetricKey.from_aws(params["Namespace"], params["MetricName"], params.get("Dimensions"))
    points = store.query(key, start, end, period, unit=params.get("Unit"))
    datapoints = []
    for point in points:
        shaped: dict[str, Any] = {"Timestamp": point.timestamp, "Unit": point.unit}
        for name in statistics:
            shaped[name] = point.stats.statistic(name)
        datapoints.append(shaped)
    return {"Label": params["MetricName"], "Datapoints": datapoints}


# --- GetMetricData ------------------------------------------------------------------------


def _fingerprint(params: Params) -> str:
    stable = {k: v for k, v in params.items() if k != "NextToken"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _offset(token: str, fingerprint: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, sealed = int(decoded["o"]), decoded["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidNextToken() from None
    if sealed != fingerprint or offset < 0:
        raise InvalidNextToken()
    return offset


def get_metric_data(ctx: ApiContext, params: Params) -> Result:
    store = _store(ctx)
    start, end = epoch(params["StartTime"]), epoch(params["EndTime"])
    if start >= end:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )
    limit = params.get("MaxDatapoints", DEFAULT_MAX_DATAPOINTS)
    if limit < 1:
        raise InvalidParameterValue("The parameter MaxDatapoints must be greater than 0.")
    fingerprint = _fingerprint(params)
    offset = _offset(params["NextToken"], fingerprint) if params.get("NextToken") else 0
    try:
        results = md.run(
            params["MetricDataQueries"],
            start,
            end,
            lambda key, s, e, period, unit: store.query(key, s, e, period, unit=unit),
        )
    except md.QueryError as error:
        raise AwsError(error.message, code=error.code) from None
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    shaped, position, budget = [], 0, limit
    for result in results:
        stamps = sorted(result.series, reverse=descending)
        skip = min(max(offset - position, 0), len(stamps))
        take = min(len(stamps) - skip, budget)
        chosen = stamps[skip : skip + take]
        position += len(stamps)
        budget -= take
        complete = skip + take == len(stamps)
        if skip < len(stamps) or not stamps:
            shaped.append(
                {
                    "Id": result.id,
                    "Label": result.label,
                    "Timestamps": chosen,
                    "Values": [result.series[t] for t in chosen],
                    "StatusCode": "Complete" if complete else "PartialData",
                    "Messages": [],
                }
            )
    out: Result = {"MetricDataResults": shaped, "Messages": []}
    consumed = offset + (limit - budget)
    if consumed < position:
        out["NextToken"] = _token(consumed, fingerprint)
    return out


# --- ListMetrics --------------------------------------------------------------------------


def list_metrics(ctx: ApiContext, params: Params) -> Result:
    store = _store(ctx)
    active_since = None
    if "RecentlyActive" in params:
        if params["RecentlyActive"] != "PT3H":
            raise InvalidParameterValue(
                f"The value {params['RecentlyActive']} for parameter RecentlyActive is invalid."
            )
        active_since = ctx.now() - RECENTLY_ACTIVE_S
    dimensions: dict[str, str | None] = {}
    for item in params.get("Dimensions") or []:
        dimensions[item["Name"]] = item.get("Value")
    keys = store.list_metrics(
        params.get("Namespace"), params.get("MetricName"), dimensions, active_since
    )
    after: list[Any] | None = None
    if params.get("NextToken"):
        try:
            after = json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidNextToken() from None
        if not isinstance(after, list) or len(after) != 3:
            raise InvalidNextToken()
    if after is not None:
        marker = (after[0], after[1], tuple(tuple(d) for d in after[2]))
        keys = [k for k in keys if (k.namespace, k.name, k.dimensions) > marker]
    page = keys[:LIST_PAGE]
    out: Result = {
        "Metrics": [
            {"Namespace": k.namespace, "MetricName": k.name, "Dimensions": k.aws_dimensions()}
            for k in page
        ]
    }
    if len(keys) > LIST_PAGE:
        last = page[-1]
        raw = json.dumps([last.namespace, last.name, [list(d) for d in last.dimensions]])
        out["NextToken"] = base64.urlsafe_b64encode(raw.encode()).decode()
    return out


HANDLERS: dict[str, Handler] = {
    "PutMetricData": put_metric_data,
    "GetMetricStatistics": get_metric_statistics,
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
}
