"""PutMetricAlarm's rules (pure): request -> the alarm's configuration fields.

botocore's ParamValidator has already checked types, lengths and enums; this
module holds what the model cannot say (one of Statistic/ExtendedStatistic,
allowed periods, M <= N, ...) with CloudWatch's error codes. Dockyard evaluates
single-metric alarms on a static threshold; metric math, anomaly detection and
percentiles are refused with a clear message rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from dockyard.alarms.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ValidationError,
)
from dockyard.arns import parse_arn

STATIC_OPERATORS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
BAND_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_SPAN_S = 86400  # EvaluationPeriods x Period, for periods under an hour
MAX_SPAN_LONG_S = 7 * 86400  # ... and for periods of an hour or more

# Members of PutMetricAlarm that Dockyard does not evaluate; refused when given.
UNSUPPORTED = {
    "Metrics": "Metric math alarms (Metrics) are not supported by this server; "
    "give MetricName, Namespace, Statistic and Period instead.",
    "ThresholdMetricId": "Anomaly detection alarms (ThresholdMetricId) are not supported "
    "by this server; use a static Threshold.",
    "EvaluationCriteria": "EvaluationCriteria is not supported by this server.",
    "EvaluationInterval": "EvaluationInterval is not supported by this server.",
    "EvaluationWindow": "EvaluationWindow is not supported by this server.",
    "WarmUpConfiguration": "WarmUpConfiguration is not supported by this server.",
    "ActionConfiguration": "ActionConfiguration is not supported by this server.",
}


def _check_supported(params: dict[str, Any]) -> None:
    for member, message in UNSUPPORTED.items():
        if params.get(member):
            raise InvalidParameterValue(message)
    operator = params.get("ComparisonOperator")
    if not operator:
        raise MissingParameter("The parameter ComparisonOperator is required.")
    if operator not in STATIC_OPERATORS + BAND_OPERATORS:
        raise ValidationError(
            f"1 validation error detected: Value '{operator}' at 'comparisonOperator' failed "
            "to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(STATIC_OPERATORS + BAND_OPERATORS)}]"
        )
    if operator in BAND_OPERATORS:
        raise ValidationError(
            f"Comparison operator {operator} is only valid for anomaly detection alarms "
            "(with ThresholdMetricId), which this server does not support; use one of "
            f"{', '.join(STATIC_OPERATORS)}."
        )


def _check_metric(params: dict[str, Any]) -> None:
    for member in ("MetricName", "Namespace"):
        if not params.get(member):
            raise MissingParameter(f"The parameter {member} is required.")
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if (statistic is None) == (extended is None):
        raise InvalidParameterCombination(
            "Exactly one of the parameters Statistic and ExtendedStatistic must be specified."
        )
    if extended is not None:
        raise InvalidParameterValue(
            f"ExtendedStatistic {extended} is not supported by this server: metrics are kept "
            "as statistic sets (SampleCount, Sum, Minimum, Maximum), from which percentiles "
            "cannot be derived. Use Statistic."
        )


def _check_periods(params: dict[str, Any]) -> None:
    period = params.get("Period")
    if period is None:
        raise MissingParameter("The parameter Period is required.")
    if period not in HIGH_RESOLUTION_PERIODS and period % 60 != 0:
        raise InvalidParameterValue(
            f"The parameter Period must be 10, 20, 30 or a multiple of 60; got {period}."
        )
    periods = params["EvaluationPeriods"]
    limit = MAX_SPAN_S if period < 3600 else MAX_SPAN_LONG_S
    if periods * period > limit:
        raise ValidationError(
            f"Metrics cannot be checked across more than {limit // 86400} "
            f"day{'s' if limit > 86400 else ''} (EvaluationPeriods * Period must be <= {limit})"
        )
    to_alarm = params.get("DatapointsToAlarm")
    if to_alarm is not None and to_alarm > periods:
        raise ValidationError(
            f"DatapointsToAlarm ({to_alarm}) must be less than or equal to "
            f"EvaluationPeriods ({periods})."
        )


def _check_actions(params: dict[str, Any]) -> None:
    for member in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        for action in params.get(member) or ():
            if parse_arn(action) is None:
                raise ValidationError(f"Invalid arn syntax: {action}")


def check_put_metric_alarm(params: dict[str, Any]) -> None:
    """Raise CloudWatch's error for a PutMetricAlarm request Dockyard cannot accept."""
    _check_supported(params)
    _check_metric(params)
    _check_periods(params)
    if params.get("Threshold") is None:
        raise ValidationError("Threshold must be specified for an alarm on a static threshold.")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING:
        raise InvalidParameterValue(
            f"Invalid value {treat!r} for TreatMissingData; valid values: "
            f"{', '.join(TREAT_MISSING)}."
        )
    _check_actions(params)


def configuration(params: dict[str, Any]) -> dict[str, Any]:
    """The configuration members of a MetricAlarm, from a checked PutMetricAlarm request.

    Optional members appear only when given, as DescribeAlarms shows them.
    """
    doc: dict[str, Any] = {
        "AlarmName": params["AlarmName"],
        "ActionsEnabled": params.get("ActionsEnabled", True),
        "OKActions": list(params.get("OKActions") or []),
        "AlarmActions": list(params.get("AlarmActions") or []),
        "InsufficientDataActions": list(params.get("InsufficientDataActions") or []),
        "MetricName": params["MetricName"],
        "Namespace": params["Namespace"],
        "Statistic": params["Statistic"],
        "Dimensions": [
            {"Name": d["Name"], "Value": d["Value"]} for d in params.get("Dimensions") or []
        ],
        "Period": params["Period"],
        "EvaluationPeriods": params["EvaluationPeriods"],
        "Threshold": float(params["Threshold"]),
        "ComparisonOperator": params["ComparisonOperator"],
    }
    for member in ("AlarmDescription", "Unit", "DatapointsToAlarm", "TreatMissingData"):
        if params.get(member) is not None:
            doc[member] = params[member]
    if params.get("EvaluateLowSampleCountPercentile"):
        doc["EvaluateLowSampleCountPercentile"] = params["EvaluateLowSampleCountPercentile"]
    return doc
