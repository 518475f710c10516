"""`dockyard metrics`: a service's CPU, memory and requests over the last hour.

    dockyard metrics --cluster C SERVICE [--minutes 60] [--period 60] [--table]

Reads the same CloudWatch metrics ECS and ALB publish (AWS/ECS CPUUtilization and
MemoryUtilization by ClusterName+ServiceName; AWS/ApplicationELB RequestCount by
LoadBalancer+TargetGroup for each target group of the service) with one
GetMetricData call, and draws them as terminal charts (plotext) on a terminal or as
a table otherwise (`--table` forces it; `-o json` prints the series).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from dockyard.cli.client import api_errors, client, settings
from dockyard.cli.output import console, emit, show, table
from dockyard.cli.resources import cluster_option
from dockyard.cli.services import describe_one


@dataclass(frozen=True)
class Series:
    """One query of the GetMetricData call and what it is called on screen."""

    id: str
    label: str
    unit: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def query(self, period: int) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Label": self.label,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
                },
                "Period": period,
                "Stat": self.stat,
            },
        }


def arn_resource(arn: str) -> str:
    """`targetgroup/name/id` or `app/name/id`: the dimension value ELB metrics use."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/")


def service_series(
    cluster_name: str, service: Mapping[str, Any], target_groups: Sequence[Mapping[str, Any]]
) -> list[Series]:
    """What `dockyard metrics` shows for one service (pure: testable without a server)."""
    dims = (("ClusterName", cluster_name), ("ServiceName", service["serviceName"]))
    series = [
        Series("cpu", "CPU % (avg)", "%", "AWS/ECS", "CPUUtilization", dims, "Average"),
        Series("cpumax", "CPU % (max)", "%", "AWS/ECS", "CPUUtilization", dims, "Maximum"),
        Series("mem", "Memory % (avg)", "%", "AWS/ECS", "MemoryUtilization", dims, "Average"),
    ]
    for index, group in enumerate(target_groups):
        tg = arn_resource(group["TargetGroupArn"])
        for lb_arn in group.get("LoadBalancerArns", [])[:1]:
            dims_tg = tuple(sorted((("LoadBalancer", arn_resource(lb_arn)), ("TargetGroup", tg))))
            series.append(
                Series(
                    f"req{index}",
                    f"Requests ({group['TargetGroupName']})",
                    "count",
                    "AWS/ApplicationELB",
                    "RequestCount",
                    dims_tg,
                    "Sum",
                )
            )
    return series


def fetch(
    api: Any, series: Sequence[Series], start: float, end: float, period: int
) -> dict[str, list[tuple[float, float]]]:
    """Each series' (timestamp, value) points, oldest first, following NextToken."""
    points: dict[str, list[tuple[float, float]]] = {s.id: [] for s in series}
    params: dict[str, Any] = {
        "MetricDataQueries": [s.query(period) for s in series],
        "StartTime": datetime.fromtimestamp(start, UTC),
        "EndTime": datetime.fromtimestamp(end, UTC),
        "ScanBy": "TimestampAscending",
    }
    while True:
        answer = api.get_metric_data(**params)
        for result in answer.get("MetricDataResults", []):
            stamps = [t.timestamp() for t in result.get("Timestamps", [])]
            points[result["Id"]].extend(zip(stamps, result.get("Values", []), strict=False))
        token = answer.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    return {key: sorted(values) for key, values in points.items()}


def chart(series: Sequence[Series], points: Mapping[str, list[tuple[float, float]]]) -> str:
    """Terminal charts: percentages in one plot, request counts in another."""
    import plotext as plt

    out = []
    groups = [[s for s in series if s.unit == "%"], [s for s in series if s.unit != "%"]]
    width = min(console().width, 120)
    for group in groups:
        if not group:
            continue
        plt.clear_figure()
        plt.plotsize(width, 15)
        plt.date_form("H:M")
        plt.theme("clear")
        for s in group:
            data = points.get(s.id, [])
            if data:
                stamps = [datetime.fromtimestamp(t).strftime("%H:%M") for t, _ in data]
                plt.plot(stamps, [v for _, v in data], label=s.label, marker="braille")
        plt.title("Utilization (% of reservation)" if group[0].unit == "%" else "Requests")
        out.append(plt.build())
    return "\n".join(out)


@click.command("metrics")
@cluster_option()
@click.argument("service_name", metavar="SERVICE")
@click.option("--minutes", type=click.IntRange(1, 24 * 60), default=60, show_default=True)
@click.option(
    "--period", type=click.IntRange(10, 3600), default=60, show_default=True, help="Seconds."
)
@click.option("--table", "as_table", is_flag=True, help="A table even on a terminal.")
@click.pass_context
def metrics(
    ctx: click.Context, cluster: str, service_name: str, minutes: int, period: int, as_table: bool
) -> None:
    """Show SERVICE's CPU, memory and requests over the last MINUTES."""
    with api_errors(settings(ctx).endpoint):
        _metrics(ctx, cluster, service_name, minutes, period, as_table)


def _metrics(
    ctx: click.Context, cluster: str, service_name: str, minutes: int, period: int, as_table: bool
) -> None:
    service = describe_one(client(ctx), cluster, service_name)
    cluster_name = service["clusterArn"].rsplit("/", 1)[-1]
    arns = [lb["targetGroupArn"] for lb in service.get("loadBalancers", [])]
    groups: list[dict[str, Any]] = []
    if arns:
        groups = client(ctx, "elbv2").describe_target_groups(TargetGroupArns=arns)["TargetGroups"]
    series = service_series(cluster_name, service, groups)
    end = time.time()
    points = fetch(client(ctx, "cloudwatch"), series, end - minutes * 60, end, period)

    def render() -> None:
        if not any(points.values()):
            click.echo(f"No datapoints for service {service_name} in the last {minutes} minutes.")
            return
        if not as_table and console().is_terminal:
            click.echo(chart(series, points))
            return
        stamps = sorted({t for values in points.values() for t, _ in values})
        by_id = {s.id: dict(points[s.id]) for s in series}
        rows: list[list[str | None]] = [
            [
                datetime.fromtimestamp(t).strftime("%H:%M:%S"),
                *(_cell(by_id[s.id].get(t)) for s in series),
            ]
            for t in stamps
        ]
        columns = ["Time", *(s.label for s in series)]
        show(table(columns, rows, title=f"Service {service_name}", numeric=columns[1:]))

    emit(ctx, {s.label: points[s.id] for s in series}, render)


def _cell(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"
