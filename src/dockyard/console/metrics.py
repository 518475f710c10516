"""The metrics tab: which CloudWatch queries a service's charts need, and their data.

The same metrics ECS and ALB publish: AWS/ECS CPUUtilization and MemoryUtilization
by ClusterName+ServiceName; AWS/ApplicationELB RequestCount and TargetResponseTime
by LoadBalancer+TargetGroup for each target group of the service. One
GetMetricData call answers them all; `charts` turns its results into uPlot's
columnar data ([timestamps, series...], gaps as null). Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WINDOW_S = 3600  # the last hour
PERIOD_S = 10  # the metrics store's high-resolution bucket


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    queries: tuple[str, ...]  # query ids drawn on this chart


def arn_resource(arn: str) -> str:
    """`app/name/id` or `targetgroup/name/id`: the dimension value ELB metrics use."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


def _query(qid: str, label: str, namespace: str, metric: str, dims: Mapping[str, str], *,
           stat: str, period: int) -> dict[str, Any]:  # fmt: skip
    return {
        "Id": qid,
        "Label": label,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": n, "Value": v} for n, v in sorted(dims.items())],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def service_queries(
    cluster: str,
    service: str,
    target_groups: Sequence[tuple[str, str, str]],
    period: int = PERIOD_S,
) -> tuple[list[Chart], list[dict[str, Any]]]:
    """Charts and GetMetricData queries; target_groups: (name, group ARN, balancer ARN)."""
    ecs = {"ClusterName": cluster, "ServiceName": service}
    queries = [
        _query("cpu", "CPU (avg)", "AWS/ECS", "CPUUtilization", ecs, stat="Average", period=period),
        _query(
            "cpumax", "CPU (max)", "AWS/ECS", "CPUUtilization", ecs, stat="Maximum", period=period
        ),
        _query(
            "mem",
            "Memory (avg)",
            "AWS/ECS",
            "MemoryUtilization",
            ecs,
            stat="Average",
            period=period,
        ),
    ]
    requests, latency = [], []
    for index, (name, group_arn, balancer_arn) in enumerate(target_groups):
        dims = {"LoadBalancer": arn_resource(balancer_arn), "TargetGroup": arn_resource(group_arn)}
        alb = "AWS/ApplicationELB"
        queries.append(
            _query(f"req{index}", name, alb, "RequestCount", dims, stat="Sum", period=period)
        )
        queries.append(
            _query(
                f"rt{index}", name, alb, "TargetResponseTime", dims, stat="Average", period=period
            )
        )
        requests.append(f"req{index}")
        latency.append(f"rt{index}")
    charts = [
        Chart("CPU utilization", "%", ("cpu", "cpumax")),
        Chart("Memory utilization", "%", ("mem",)),
        Chart("Request count", "requests", tuple(requests)),
        Chart("Target response time", "s", tuple(latency)),
    ]
    return charts, queries


def charts_data(
    charts: Sequence[Chart],
    results: Sequence[Mapping[str, Any]],
    start: float,
    end: float,
    period: int = PERIOD_S,
) -> list[dict[str, Any]]:
    """uPlot's input per chart: a shared timeline every `period` from start to end, each
    series' value at its bucket or None (a gap), with labels for the legend."""
    first = int(start // period * period)
    timeline = list(range(first, int(end) + 1, period))
    slot = {t: i for i, t in enumerate(timeline)}
    by_id = {r["Id"]: r for r in results}
    out = []
    for chart in charts:
        labels, columns = [], []
        for qid in chart.queries:
            result = by_id.get(qid, {})
            column: list[float | None] = [None] * len(timeline)
            for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []),
                                    strict=False):  # fmt: skip
                index = slot.get(int(float(stamp) // period * period))
                if index is not None and float(stamp) <= end:  # none after the window
                    column[index] = round(float(value), 4)
            labels.append(str(result.get("Label") or qid))
            columns.append(column)
        out.append(
            {
                "title": chart.title,
                "unit": chart.unit,
                "labels": labels,
                "data": [timeline, *columns],
                "empty": not any(v is not None for column in columns for v in column),
            }
        )
    return out
