"""CloudWatch metric actions against a real `dockyard server`: boto3 (JSON 1.0), the
aws CLI, and the query protocol (requests built by botocore's query serializer,
answers read by botocore's query parser)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from tests.e2e.conftest import ServerProcess, aws_cli

DIMS = [{"Name": "Service", "Value": "web"}]


@pytest.fixture
def cw(server: ServerProcess) -> Any:
    return server.client("cloudwatch")


def minute(ts: float) -> float:
    return ts - ts % 60


def test_put_then_read_with_boto3(cw: Any) -> None:
    now = time.time()
    base = minute(now) - 300
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": DIMS,
                "Value": 10,
                "Timestamp": base + 1,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": DIMS,
                "Values": [20, 40],
                "Counts": [1, 2],
                "Timestamp": base + 30,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": DIMS,
                "Timestamp": base + 61,
                "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 2, "Maximum": 8},
                "Unit": "Milliseconds",
            },
        ],
    )
    answer = cw.get_metric_statistics(
        Namespace="Shop",
        MetricName="Latency",
        Dimensions=DIMS,
        StartTime=base,
        EndTime=base + 120,
        Period=60,
        Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
    )
    assert answer["Label"] == "Latency"
    points = sorted(answer["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["Timestamp"].timestamp() for p in points] == [base, base + 60]
    first, second = points
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (
        4,
        110,
        10,
        40,
    )
    assert first["Average"] == pytest.approx(27.5)
    assert first["Unit"] == "Milliseconds"
    assert (second["SampleCount"], second["Average"]) == (4, 5)
    # a unit filter that matches nothing, and different dimensions, give nothing
    none = cw.get_metric_statistics(
        Namespace="Shop",
        MetricName="Latency",
        Dimensions=DIMS,
        StartTime=base,
        EndTime=base + 120,
        Period=60,
        Statistics=["Sum"],
        Unit="Seconds",
    )
    assert none["Datapoints"] == []
    other = cw.get_metric_statistics(
        Namespace="Shop",
        MetricName="Latency",
        StartTime=base,
        EndTime=base + 120,
        Period=60,
        Statistics=["Sum"],
    )
    assert other["Datapoints"] == []

    listed = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert listed == [{"Namespace": "Shop", "MetricName": "Latency", "Dimensions": DIMS}]
    assert cw.list_metrics(Dimensions=[{"Name": "Service"}])["Metrics"] == listed
    assert cw.list_metrics(Dimensions=[{"Name": "Service", "Value": "api"}])["Metrics"] == []
    assert cw.list_metrics(RecentlyActive="PT3H")["Metrics"] == listed

    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": "Shop", "MetricName": "Latency", "Dimensions": DIMS},
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "e1", "Expression": "(m1 + 10) / 2", "Label": "half"},
            {"Id": "e2", "Expression": "MAX(m1)"},
        ],
        StartTime=base,
        EndTime=base + 120,
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    assert [(r["Id"], r["Label"], r["StatusCode"]) for r in data] == [
        ("e1", "half", "Complete"),
        ("e2", "e2", "Complete"),
    ]
    assert [t.timestamp() for t in data[0]["Timestamps"]] == [base, base + 60]
    assert data[0]["Values"] == [60, 15]
    assert data[1]["Values"] == [110, 110]


def test_get_metric_data_pages_and_scans_descending(cw: Any) -> None:
    now = time.time()
    base = minute(now) - 600
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {"MetricName": "Orders", "Value": i, "Timestamp": base + 60 * i} for i in range(5)
        ],
    )
    query = {
        "Id": "m1",
        "MetricStat": {
            "Metric": {"Namespace": "Shop", "MetricName": "Orders"},
            "Period": 60,
            "Stat": "Maximum",
        },
    }
    kwargs: dict[str, Any] = {
        "MetricDataQueries": [query],
        "StartTime": base,
        "EndTime": base + 300,
        "MaxDatapoints": 2,
    }
    values, codes = [], []
    while True:
        page = cw.get_metric_data(**kwargs)
        (result,) = page["MetricDataResults"]
        values += result["Values"]
        codes.append(result["StatusCode"])
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert values == [4, 3, 2, 1, 0]
    assert codes == ["PartialData", "PartialData", "Complete"]
    with pytest.raises(ClientError) as caught:
        cw.get_metric_data(**{**kwargs, "NextToken": "bm9wZQ=="})
    assert caught.value.response["Error"]["Code"] == "InvalidNextToken"


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        pytest.param(
            lambda cw, now: cw.put_metric_data(
                Namespace="AWS/ECS", MetricData=[{"MetricName": "CPUUtilization", "Value": 1}]
            ),
            "InvalidParameterValue",
            "The value AWS/ for parameter Namespace is invalid.",
            id="aws-namespace",
        ),
        pytest.param(
            lambda cw, now: cw.put_metric_data(
                Namespace="Shop",
                MetricData=[
                    {
                        "MetricName": "X",
                        "Value": 1,
                        "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1},
                    }
                ],
            ),
            "InvalidParameterCombination",
            "mutually exclusive",
            id="value-and-statistics",
        ),
        pytest.param(
            lambda cw, now: cw.put_metric_data(
                Namespace="Shop", MetricData=[{"MetricName": "X", "Values": [1, 2], "Counts": [1]}]
            ),
            "InvalidParameterValue",
            "same size",
            id="values-counts",
        ),
        pytest.param(
            lambda cw, now: cw.get_metric_statistics(
                Namespace="Shop",
                MetricName="X",
                StartTime=now - 3 * 86400,
                EndTime=now,
                Period=60,
                Statistics=["Sum"],
            ),
            "InvalidParameterCombination",
            "You have requested up to 4,320 datapoints, which exceeds the limit of 1,440.",
            id="too-many-datapoints",
        ),
        pytest.param(
            lambda cw, now: cw.get_metric_statistics(
                Namespace="Shop",
                MetricName="X",
                StartTime=now - 600,
                EndTime=now,
                Period=45,
                Statistics=["Sum"],
            ),
            "InvalidParameterValue",
            "Period",
            id="period",
        ),
        pytest.param(
            lambda cw, now: cw.get_metric_statistics(
                Namespace="Shop",
                MetricName="X",
                StartTime=now,
                EndTime=now - 600,
                Period=60,
                Statistics=["Sum"],
            ),
            "InvalidParameterValue",
            "The parameter StartTime must be less than the parameter EndTime.",
            id="range",
        ),
        pytest.param(
            lambda cw, now: cw.get_metric_data(
                MetricDataQueries=[{"Id": "e1", "Expression": "m9 * 2"}],
                StartTime=now - 600,
                EndTime=now,
            ),
            "ValidationError",
            "Unrecognized metric identifier 'm9'",
            id="unknown-id",
        ),
        pytest.param(
            lambda cw, now: cw.get_metric_data(
                MetricDataQueries=[
                    {"Id": "e1", "Expression": "1 +"},
                    {"Id": "e1", "Expression": "1"},
                ],
                StartTime=now - 600,
                EndTime=now,
            ),
            "ValidationError",
            "not unique",
            id="duplicate-id",
        ),
        pytest.param(
            lambda cw, now: cw.list_metrics(RecentlyActive="PT1H"),
            "InvalidParameterValue",
            "RecentlyActive",
            id="recently-active",
        ),
    ],
)
def test_errors_have_aws_codes(cw: Any, call: Any, code: str, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        call(cw, time.time())
    error = caught.value.response["Error"]
    assert error["Code"] == code
    assert message in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_modeled_exception_classes(cw: Any) -> None:
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/X", MetricData=[{"MetricName": "m", "Value": 1}])


def test_history_survives_a_restart(server: ServerProcess) -> None:
    cw = server.client("cloudwatch")
    now = time.time()
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Kept", "Value": 7}])
    server.kill9()  # PutMetricData is durable once answered
    server.start()
    cw = server.client("cloudwatch")
    answer = cw.get_metric_statistics(
        Namespace="Shop",
        MetricName="Kept",
        StartTime=now - 120,
        EndTime=now + 120,
        Period=60,
        Statistics=["Maximum"],
    )
    assert [p["Maximum"] for p in answer["Datapoints"]] == [7]
    assert cw.list_metrics(MetricName="Kept")["Metrics"][0]["Namespace"] == "Shop"


def test_aws_cli(server: ServerProcess) -> None:
    now = int(time.time())
    start, end = str(minute(now) - 600), str(minute(now) + 60)

    def cli(*args: str) -> Any:
        done = aws_cli(server.endpoint, "cloudwatch", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    at = str(minute(now) - 120)  # both samples in one bucket, whatever the clock says
    for value in ("3", "5"):
        cli(
            "put-metric-data",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--value",
            value,
            "--dimensions",
            "Queue=fast",
            "--unit",
            "Count",
            "--timestamp",
            at,
        )
    stats = cli(
        "get-metric-statistics",
        "--namespace",
        "Cli",
        "--metric-name",
        "Jobs",
        "--dimensions",
        "Name=Queue,Value=fast",
        "--start-time",
        start,
        "--end-time",
        end,
        "--period",
        "3600",
        "--statistics",
        "Sum",
        "Maximum",
    )
    assert [(p["Sum"], p["Maximum"], p["Unit"]) for p in stats["Datapoints"]] == [(8, 5, "Count")]
    listed = cli("list-metrics", "--namespace", "Cli")
    assert listed["Metrics"] == [
        {
            "Namespace": "Cli",
            "MetricName": "Jobs",
            "Dimensions": [{"Name": "Queue", "Value": "fast"}],
        }
    ]
    queries = json.dumps(
        [
            {
                "Id": "jobs",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Cli",
                        "MetricName": "Jobs",
                        "Dimensions": [{"Name": "Queue", "Value": "fast"}],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "pct", "Expression": "jobs * 100 / 16"},
        ]
    )
    data = cli(
        "get-metric-data",
        "--metric-data-queries",
        queries,
        "--start-time",
        start,
        "--end-time",
        end,
    )
    assert [(r["Id"], r["Values"]) for r in data["MetricDataResults"]] == [("pct", [50.0])]
    failed = aws_cli(
        server.endpoint,
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        "x",
        "--value",
        "1",
    )
    assert failed.returncode != 0
    assert "InvalidParameterValue" in failed.stderr


class QueryClient:
    """CloudWatch over the query protocol, as older SDKs speak it: the form comes from
    botocore's query serializer, the XML answer goes through botocore's query parser."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.model = botocore.session.get_session().get_service_model("cloudwatch")
        self.serializer = create_serializer("query")
        self.parser = create_parser("query")

    def call(self, action: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        operation = self.model.operation_model(action)
        request = self.serializer.serialize_to_request(params, operation)
        body = urllib.parse.urlencode(request["body"]).encode()
        http = urllib.request.Request(
            self.endpoint + "/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(http, timeout=10) as answer:
                status, headers, payload = answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, dict(error.headers), error.read()
        parsed = self.parser.parse(
            {"status_code": status, "headers": headers, "body": payload},
            operation.output_shape,
        )
        return status, parsed


def test_query_protocol(server: ServerProcess) -> None:
    client = QueryClient(server.endpoint)
    now = time.time()
    base = minute(now) - 120
    status, _ = client.call(
        "PutMetricData",
        {
            "Namespace": "Legacy",
            "MetricData": [
                {
                    "MetricName": "Hits",
                    "Dimensions": DIMS,
                    "Value": 4.5,
                    "Timestamp": base + 5,
                    "Unit": "Count",
                },
                {
                    "MetricName": "Hits",
                    "Dimensions": DIMS,
                    "Values": [1, 2],
                    "Counts": [2, 1],
                    "Timestamp": base + 65,
                    "Unit": "Count",
                },
            ],
        },
    )
    assert status == 200
    status, stats = client.call(
        "GetMetricStatistics",
        {
            "Namespace": "Legacy",
            "MetricName": "Hits",
            "Dimensions": DIMS,
            "StartTime": base,
            "EndTime": base + 120,
            "Period": 60,
            "Statistics": ["Sum", "SampleCount"],
        },
    )
    assert status == 200
    points = sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])
    assert [
        (p["Timestamp"].timestamp(), p["Sum"], p["SampleCount"], p["Unit"]) for p in points
    ] == [(base, 4.5, 1, "Count"), (base + 60, 4, 3, "Count")]
    status, listed = client.call("ListMetrics", {"Namespace": "Legacy"})
    assert listed["Metrics"] == [{"Namespace": "Legacy", "MetricName": "Hits", "Dimensions": DIMS}]
    status, data = client.call(
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "h",
                    "MetricStat": {
                        "Metric": {"Namespace": "Legacy", "MetricName": "Hits", "Dimensions": DIMS},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
                {"Id": "f", "Expression": "FILL(h, 0) * 2"},
            ],
            "StartTime": base,
            "EndTime": base + 120,
            "ScanBy": "TimestampAscending",
        },
    )
    assert status == 200
    results = {r["Id"]: r for r in data["MetricDataResults"]}
    assert results["h"]["Values"] == [4.5, 4]
    assert results["f"]["Values"] == [9, 8]
    assert [t.timestamp() for t in results["f"]["Timestamps"]] == [base, base + 60]
    status, error = client.call(
        "PutMetricData",
        {
            "Namespace": "AWS/EC2",
            "MetricData": [{"MetricName": "x", "Value": 1}],
        },
    )
    assert status == 400
    assert error["Error"]["Code"] == "InvalidParameterValue"
    assert error["Error"]["Message"] == "The value AWS/ for parameter Namespace is invalid."
