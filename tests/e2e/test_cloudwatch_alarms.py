"""CloudWatch alarms against a real `dockyard server`: boto3 and the aws CLI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ServerProcess, aws_cli, wait_for

NAMESPACE = "Dockyard/Test"
SNS_TOPIC = "arn:aws:sns:us-east-1:000000000000:ops"


@pytest.fixture
def cloudwatch(server: ServerProcess) -> Any:
    return server.client("cloudwatch")


def alarm_params(name: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": NAMESPACE,
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "Queue", "Value": name}],
        "Statistic": "Maximum",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 50.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    params.update(overrides)
    return params


def describe(cloudwatch: Any, name: str) -> dict[str, Any]:
    alarms = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(alarms) == 1, alarms
    return dict(alarms[0])


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_alarm_goes_to_alarm_when_a_custom_metric_crosses_the_threshold(cloudwatch: Any) -> None:
    cloudwatch.put_metric_alarm(**alarm_params("queue-high"))
    created = describe(cloudwatch, "queue-high")
    assert created["StateValue"] == "INSUFFICIENT_DATA"
    assert created["StateReason"] == "Unchecked: Initial alarm creation"
    assert created["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:000000000000:alarm:queue-high"

    def crossed() -> dict[str, Any] | None:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": "QueueDepth",
                    "Dimensions": [{"Name": "Queue", "Value": "queue-high"}],
                    "Value": 80.0,
                    "StorageResolution": 1,
                }
            ],
        )
        alarm = describe(cloudwatch, "queue-high")
        return alarm if alarm["StateValue"] == "ALARM" else None

    alarm = wait_for(crossed, timeout=40, interval=1.0, what="the alarm to fire")
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [80.0 (")
    assert alarm["StateReason"].endswith("was greater than or equal to the threshold (50.0).")
    data = json.loads(alarm["StateReasonData"])
    assert data["statistic"] == "Maximum"
    assert data["recentDatapoints"] == [80.0]
    history = cloudwatch.describe_alarm_history(
        AlarmName="queue-high", HistoryItemType="StateUpdate"
    )["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    change = json.loads(history[0]["HistoryData"])
    assert change["oldState"]["stateValue"] == "INSUFFICIENT_DATA"
    assert change["newState"]["stateValue"] == "ALARM"
    assert alarm["StateTransitionedTimestamp"] >= alarm["AlarmConfigurationUpdatedTimestamp"]


def test_set_alarm_state_records_history_and_fires_actions(cloudwatch: Any) -> None:
    cloudwatch.put_metric_alarm(**alarm_params("manual", AlarmActions=[SNS_TOPIC]))
    cloudwatch.set_alarm_state(
        AlarmName="manual",
        StateValue="ALARM",
        StateReason="testing the pager",
        StateReasonData='{"source": "test"}',
    )
    alarm = describe(cloudwatch, "manual")
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "testing the pager")
    assert json.loads(alarm["StateReasonData"]) == {"source": "test"}
    items = cloudwatch.describe_alarm_history(AlarmName="manual")["AlarmHistoryItems"]
    kinds = [item["HistoryItemType"] for item in items]  # newest first
    assert kinds == ["Action", "StateUpdate", "ConfigurationUpdate"]
    # nothing in this server handles SNS: the action is recorded as failed
    assert items[0]["HistorySummary"] == f"Failed to execute action {SNS_TOPIC}"
    assert items[2]["HistorySummary"] == 'Alarm "manual" created'
    assert json.loads(items[2]["HistoryData"])["createdAlarm"]["alarmActions"] == [SNS_TOPIC]
    oldest_first = cloudwatch.describe_alarm_history(
        AlarmName="manual", ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    assert [item["HistoryItemType"] for item in oldest_first] == list(reversed(kinds))

    # disabled actions are not invoked
    cloudwatch.disable_alarm_actions(AlarmNames=["manual"])
    assert describe(cloudwatch, "manual")["ActionsEnabled"] is False
    cloudwatch.set_alarm_state(AlarmName="manual", StateValue="OK", StateReason="calm")
    cloudwatch.set_alarm_state(AlarmName="manual", StateValue="ALARM", StateReason="again")
    actions = cloudwatch.describe_alarm_history(AlarmName="manual", HistoryItemType="Action")
    assert len(actions["AlarmHistoryItems"]) == 1
    cloudwatch.enable_alarm_actions(AlarmNames=["manual"])
    assert describe(cloudwatch, "manual")["ActionsEnabled"] is True


def test_describe_filters_and_pages(cloudwatch: Any) -> None:
    for name in ("web-cpu", "web-mem", "db-cpu"):
        cloudwatch.put_metric_alarm(**alarm_params(name))
    cloudwatch.put_metric_alarm(**alarm_params("web-5xx", OKActions=[SNS_TOPIC]))
    cloudwatch.set_alarm_state(AlarmName="db-cpu", StateValue="OK", StateReason="fine")

    first = cloudwatch.describe_alarms(MaxRecords=3)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["db-cpu", "web-5xx", "web-cpu"]
    rest = cloudwatch.describe_alarms(MaxRecords=3, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == ["web-mem"]
    assert "NextToken" not in rest
    by_prefix = cloudwatch.describe_alarms(AlarmNamePrefix="web-")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_prefix] == ["web-5xx", "web-cpu", "web-mem"]
    by_state = cloudwatch.describe_alarms(StateValue="OK")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_state] == ["db-cpu"]
    by_action = cloudwatch.describe_alarms(ActionPrefix="arn:aws:sns:")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_action] == ["web-5xx"]
    composite = cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert composite["CompositeAlarms"] == [] and "MetricAlarms" not in composite

    for_metric = cloudwatch.describe_alarms_for_metric(
        Namespace=NAMESPACE,
        MetricName="QueueDepth",
        Dimensions=[{"Name": "Queue", "Value": "web-mem"}],
    )["MetricAlarms"]
    assert [a["AlarmName"] for a in for_metric] == ["web-mem"]

    arn = describe(cloudwatch, "web-cpu")["AlarmArn"]
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "web"}])
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "web"}
    ]
    cloudwatch.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == []

    # an update keeps the state and records the change
    cloudwatch.put_metric_alarm(**alarm_params("db-cpu", Threshold=75.0))
    updated = describe(cloudwatch, "db-cpu")
    assert (updated["Threshold"], updated["StateValue"]) == (75.0, "OK")
    latest = cloudwatch.describe_alarm_history(
        AlarmName="db-cpu", HistoryItemType="ConfigurationUpdate", MaxRecords=1
    )
    assert latest["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "db-cpu" updated'
    assert "NextToken" in latest

    cloudwatch.delete_alarms(AlarmNames=["web-cpu", "web-mem"])
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]]
    assert names == ["db-cpu", "web-5xx"]
    deleted = cloudwatch.describe_alarm_history(AlarmName="web-cpu", MaxRecords=1)
    assert deleted["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "web-cpu" deleted'


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param(
            {"ComparisonOperator": "LessThanLowerThreshold"}, "ValidationError", id="band"
        ),
        pytest.param({"DatapointsToAlarm": 3}, "ValidationError", id="m-above-n"),
        pytest.param({"Period": 45}, "InvalidParameterValue", id="period"),
        pytest.param({"EvaluationPeriods": 10000}, "ValidationError", id="span-over-a-day"),
        pytest.param(
            {"Statistic": None, "ExtendedStatistic": "p99"}, "InvalidParameterValue", id="pct"
        ),
        pytest.param({"Statistic": None}, "InvalidParameterCombination", id="no-statistic"),
        pytest.param({"TreatMissingData": "sometimes"}, "InvalidParameterValue", id="treat"),
        pytest.param({"AlarmActions": ["not-an-arn"]}, "ValidationError", id="action"),
    ],
)
def test_put_metric_alarm_refusals(cloudwatch: Any, overrides: dict[str, Any], code: str) -> None:
    params = {k: v for k, v in alarm_params("bad", **overrides).items() if v is not None}
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.put_metric_alarm(**params)
    assert error_code(excinfo) == code
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert cloudwatch.describe_alarm_history()["AlarmHistoryItems"] == []


def test_unknown_alarms_and_bad_input(cloudwatch: Any) -> None:
    cloudwatch.put_metric_alarm(**alarm_params("kept"))
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.delete_alarms(AlarmNames=["kept", "nope"])
    assert error_code(excinfo) == "ResourceNotFound"
    assert "nope" in str(excinfo.value)
    assert describe(cloudwatch, "kept")["AlarmName"] == "kept"  # nothing deleted
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert error_code(excinfo) == "ResourceNotFound"
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.set_alarm_state(
            AlarmName="kept", StateValue="OK", StateReason="x", StateReasonData="{not json"
        )
    assert error_code(excinfo) == "InvalidFormat"
    assert describe(cloudwatch, "kept")["StateValue"] == "INSUFFICIENT_DATA"
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.describe_alarms(NextToken="garbage!")
    assert error_code(excinfo) == "InvalidNextToken"
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.list_tags_for_resource(
            ResourceARN="arn:aws:cloudwatch:us-east-1:000000000000:alarm:nope"
        )
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_aws_cli(server: ServerProcess) -> None:
    def cli(*args: str) -> Any:
        done = aws_cli(server.endpoint, "cloudwatch", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    cli(
        "put-metric-alarm", "--alarm-name", "cli-alarm", "--namespace", NAMESPACE,
        "--metric-name", "Errors", "--statistic", "Sum", "--period", "60",
        "--evaluation-periods", "3", "--datapoints-to-alarm", "2", "--threshold", "5",
        "--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching",
    )  # fmt: skip
    alarm = cli("describe-alarms", "--alarm-names", "cli-alarm")["MetricAlarms"][0]
    assert (alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (2, "notBreaching")
    cli("set-alarm-state", "--alarm-name", "cli-alarm", "--state-value", "ALARM",
        "--state-reason", "from the CLI")  # fmt: skip
    history = cli("describe-alarm-history", "--alarm-name", "cli-alarm",
                  "--history-item-type", "StateUpdate")  # fmt: skip
    # SetAlarmState holds until the next evaluation (as in CloudWatch): notBreaching
    # with no data may move it to OK before the call or after it (newest first).
    summaries = [i["HistorySummary"] for i in history["AlarmHistoryItems"]]
    to_alarm = [s for s in summaries if s.endswith(" to ALARM")]
    assert len(to_alarm) == 1, summaries
    assert to_alarm[0] in (
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        "Alarm updated from OK to ALARM",
    ), summaries
    assert set(summaries) - set(to_alarm) <= {
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from ALARM to OK",
    }, summaries
    cli("delete-alarms", "--alarm-names", "cli-alarm")
    assert cli("describe-alarms")["MetricAlarms"] == []
    failed = aws_cli(server.endpoint, "cloudwatch", "delete-alarms", "--alarm-names", "gone")
    assert failed.returncode != 0 and "ResourceNotFound" in failed.stderr


def test_not_breaching_alarm_settles_to_ok_without_data(cloudwatch: Any) -> None:
    """notBreaching: no datapoints at all still decides the state (OK), once a period ends."""
    cloudwatch.put_metric_alarm(**alarm_params("quiet", TreatMissingData="notBreaching"))
    started = time.time()
    alarm = wait_for(
        lambda: (a := describe(cloudwatch, "quiet"))["StateValue"] == "OK" and a,
        timeout=40,
        interval=0.5,
        what="the quiet alarm to be OK",
    )
    assert alarm["StateReason"].startswith("Threshold Crossed: no datapoints were received")
    assert alarm["StateUpdatedTimestamp"].timestamp() >= started - 1


def test_query_protocol(server: ServerProcess) -> None:
    """Older SDKs: the same alarms over the query protocol, parsed by botocore's parser."""
    from tests.e2e.test_cloudwatch_metrics import QueryClient

    client = QueryClient(server.endpoint)
    status, _ = client.call("PutMetricAlarm", alarm_params("legacy", AlarmActions=[SNS_TOPIC]))
    assert status == 200
    status, _ = client.call(
        "SetAlarmState", {"AlarmName": "legacy", "StateValue": "ALARM", "StateReason": "q"}
    )
    assert status == 200
    status, answer = client.call("DescribeAlarms", {"AlarmNames": ["legacy"]})
    assert status == 200
    (alarm,) = answer["MetricAlarms"]
    assert (alarm["StateValue"], alarm["AlarmActions"], alarm["Period"]) == (
        "ALARM",
        [SNS_TOPIC],
        10,
    )
    assert alarm["Dimensions"] == [{"Name": "Queue", "Value": "legacy"}]
    status, answer = client.call("DescribeAlarmHistory", {"AlarmName": "legacy"})
    assert [item["HistoryItemType"] for item in answer["AlarmHistoryItems"]] == [
        "Action",
        "StateUpdate",
        "ConfigurationUpdate",
    ]
    status, answer = client.call("DeleteAlarms", {"AlarmNames": ["missing"]})
    assert (status, answer["Error"]["Code"]) == (404, "ResourceNotFound")
