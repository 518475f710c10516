"""Live data for the browser: the metrics tab's series (JSON) and a task's log stream.

Metrics come from GetMetricData, the same action `aws cloudwatch get-metric-data`
calls, so the charts show what CloudWatch clients see. Logs come from the
task-logs relay (`api/task_logs.py`: the agent of the task's instance streams
the container's output); app.py mounts that relay behind the console's session
check instead of SigV4, which a browser cannot sign.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.console import metrics
from dockyard.console.context import console
from dockyard.console.pages import describe_service, target_groups
from dockyard.errors import AwsError


def service_metrics(request: web.Request) -> web.Response:
    state = console(request)
    service = describe_service(request)
    groups = [
        (g["TargetGroupName"], g["TargetGroupArn"], g["LoadBalancerArns"][0])
        for g in target_groups(request, service)
        if g.get("LoadBalancerArns")
    ]
    cluster_name = service["clusterArn"].rsplit("/", 1)[-1]
    charts, queries = metrics.service_queries(cluster_name, service["serviceName"], groups)
    end = state.clock()
    start = end - metrics.WINDOW_S
    results: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    try:
        for _page in range(20):  # bounded: 4 charts x 360 points fit in one page
            answer = state.api.cloudwatch("GetMetricData", **params)
            results.extend(answer.get("MetricDataResults", []))
            if not answer.get("NextToken"):
                break
            params["NextToken"] = answer["NextToken"]
    except AwsError as error:
        return web.json_response({"error": f"{error.code}: {error.message}"}, status=error.status)
    merged: dict[str, dict[str, Any]] = {}
    for result in results:  # a NextToken page may continue a series
        into = merged.setdefault(result["Id"], {"Id": result["Id"], "Timestamps": [], "Values": []})
        into["Timestamps"].extend(result.get("Timestamps", []))
        into["Values"].extend(result.get("Values", []))
        into["Label"] = result.get("Label")
    shaped = list(merged.values())
    data = metrics.charts_data(charts, shaped, start, end)
    return web.json_response({"start": start, "end": end, "charts": data})
