"""The CloudWatch Logs subset against a real `dockyard server`: boto3 and the aws CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ServerProcess, aws_cli


@pytest.fixture
def logs(server: ServerProcess) -> Any:
    return server.client("logs")


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs: Any, group: str, stream: str, messages: list[str], start: int) -> Any:
    return logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)],
    )


def test_groups_streams_and_errors(logs: Any) -> None:
    logs.create_log_group(logGroupName="/ecs/web")
    logs.create_log_group(logGroupName="/ecs/worker")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/ecs/web")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.create_log_group(logGroupName="bad name!")
    logs.put_retention_policy(logGroupName="/ecs/web", retentionInDays=7)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_retention_policy(logGroupName="/ecs/web", retentionInDays=2)
    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/web", "/ecs/worker"]
    assert groups[0]["retentionInDays"] == 7 and "retentionInDays" not in groups[1]
    assert groups[0]["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*"
    page = logs.describe_log_groups(limit=1)
    assert len(page["logGroups"]) == 1 and "nextToken" in page
    paged = logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 1})
    assert [g["logGroupName"] for p in paged for g in p["logGroups"]] == ["/ecs/web", "/ecs/worker"]
    logs.delete_retention_policy(logGroupName="/ecs/web")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]

    logs.create_log_stream(logGroupName="/ecs/web", logStreamName="web/app/1")
    logs.create_log_stream(logGroupName="/ecs/web", logStreamName="web/app/2")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName="/ecs/web", logStreamName="web/app/1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as missing:
        logs.create_log_stream(logGroupName="/nope", logStreamName="s")
    assert missing.value.response["Error"]["Message"] == "The specified log group does not exist."
    put(logs, "/ecs/web", "web/app/2", ["hello"], now_ms())
    streams = logs.describe_log_streams(logGroupName="/ecs/web", logStreamNamePrefix="web/")
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["web/app/1", "web/app/2"]
    latest = logs.describe_log_streams(
        logGroupName="/ecs/web", orderBy="LastEventTime", descending=True, limit=1
    )
    assert latest["logStreams"][0]["logStreamName"] == "web/app/2"
    assert latest["logStreams"][0]["storedBytes"] == len("hello") + 26
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.describe_log_streams(
            logGroupName="/ecs/web", orderBy="LastEventTime", logStreamNamePrefix="w"
        )
    logs.delete_log_stream(logGroupName="/ecs/web", logStreamName="web/app/1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_stream(logGroupName="/ecs/web", logStreamName="web/app/1")
    logs.delete_log_group(logGroupName="/ecs/web")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/ecs/web")


def test_put_rejects_and_get_pages_with_tokens(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    answer = logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        sequenceToken="ignored",
        logEvents=[
            {"timestamp": now - 15 * 86400 * 1000, "message": "too old"},
            *({"timestamp": now - 1000 + i, "message": f"line {i}"} for i in range(5)),
            {"timestamp": now + 3 * 3600 * 1000, "message": "too new"},
        ],
    )
    assert answer["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 0,
        "tooNewLogEventStartIndex": 6,
    }
    assert answer["nextSequenceToken"]
    with pytest.raises(ClientError) as unordered:
        logs.put_log_events(
            logGroupName="g",
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}],
        )
    assert "chronological" in unordered.value.response["Error"]["Message"]

    tail = logs.get_log_events(logGroupName="g", logStreamName="s", limit=2)
    assert [e["message"] for e in tail["events"]] == ["line 3", "line 4"]
    before = logs.get_log_events(
        logGroupName="g", logStreamName="s", limit=2, nextToken=tail["nextBackwardToken"]
    )
    assert [e["message"] for e in before["events"]] == ["line 1", "line 2"]
    head = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3, startFromHead=True)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1", "line 2"]
    assert head["nextForwardToken"].startswith("f/")
    rest = logs.get_log_events(
        logGroupName="g", logStreamName="s", nextToken=head["nextForwardToken"]
    )
    assert [e["message"] for e in rest["events"]] == ["line 3", "line 4"]
    end = logs.get_log_events(
        logGroupName="g", logStreamName="s", nextToken=rest["nextForwardToken"]
    )
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    put(logs, "g", "s", ["later"], now)
    more = logs.get_log_events(
        logGroupName="g", logStreamName="s", nextToken=end["nextForwardToken"]
    )
    assert [e["message"] for e in more["events"]] == ["later"]
    window = logs.get_log_events(
        logGroupName="g", logStreamName="s", startTime=now - 999, endTime=now - 997,
        startFromHead=True,
    )  # fmt: skip
    assert [e["message"] for e in window["events"]] == ["line 1", "line 2"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName="g", logStreamName="s", nextToken="x/123")


def test_filter_log_events_patterns_and_pages(logs: Any) -> None:
    logs.create_log_group(logGroupName="app")
    for stream in ("web/a", "web/b", "job/c"):
        logs.create_log_stream(logGroupName="app", logStreamName=stream)
    now = now_ms() - 10_000
    put(logs, "app", "web/a", ["ERROR disk full", "INFO ok", json.dumps({"level": "error"})], now)
    put(logs, "app", "web/b", ["ERROR timeout", json.dumps({"latency": 150})], now + 10)
    put(logs, "app", "job/c", ["ERROR job failed", "WARN slow"], now + 20)

    def messages(**kwargs: Any) -> list[str]:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName="app", **kwargs)
        return [e["message"] for p in pages for e in p["events"]]

    assert messages(filterPattern="ERROR") == [
        "ERROR disk full",
        "ERROR timeout",
        "ERROR job failed",
    ]
    assert messages(filterPattern='"disk full"') == ["ERROR disk full"]
    assert messages(filterPattern="ERROR -timeout", logStreamNamePrefix="web/") == [
        "ERROR disk full"
    ]
    assert messages(filterPattern="?WARN ?INFO") == ["INFO ok", "WARN slow"]
    assert messages(filterPattern='{ $.level = "error" }') == ['{"level": "error"}']
    assert messages(filterPattern="{ $.latency > 100 }") == ['{"latency": 150}']
    assert messages(logStreamNames=["job/c"]) == ["ERROR job failed", "WARN slow"]
    assert messages(startTime=now + 10, endTime=now + 20) == ["ERROR timeout", '{"latency": 150}']
    first = logs.filter_log_events(logGroupName="app", filterPattern="ERROR", limit=2)
    assert len(first["events"]) == 2 and first["nextToken"]
    assert {s["logStreamName"] for s in first["searchedLogStreams"]} == {"web/a", "web/b"}
    second = logs.filter_log_events(
        logGroupName="app", filterPattern="ERROR", limit=2, nextToken=first["nextToken"]
    )
    assert [e["message"] for e in second["events"]] == ["ERROR job failed"]
    assert "nextToken" not in second
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName="app", filterPattern="{ $.level = ")


def test_aws_cli_logs_commands(server: ServerProcess) -> None:
    def cli(*args: str) -> Any:
        done = aws_cli(server.endpoint, "logs", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    cli("create-log-group", "--log-group-name", "/cli/app")
    cli("create-log-stream", "--log-group-name", "/cli/app", "--log-stream-name", "s1")
    now = now_ms()
    events = json.dumps(
        [{"timestamp": now, "message": "ERROR boom"}, {"timestamp": now + 1, "message": "fine"}]
    )
    cli("put-log-events", "--log-group-name", "/cli/app", "--log-stream-name", "s1",
        "--log-events", events)  # fmt: skip
    got = cli("get-log-events", "--log-group-name", "/cli/app", "--log-stream-name", "s1",
              "--start-from-head")  # fmt: skip
    assert [e["message"] for e in got["events"]] == ["ERROR boom", "fine"]
    found = cli("filter-log-events", "--log-group-name", "/cli/app", "--filter-pattern", "ERROR")
    assert [e["message"] for e in found["events"]] == ["ERROR boom"]
    cli("put-retention-policy", "--log-group-name", "/cli/app", "--retention-in-days", "1")
    groups = cli("describe-log-groups")["logGroups"]
    assert groups[0]["retentionInDays"] == 1
    failed = aws_cli(server.endpoint, "logs", "describe-log-streams", "--log-group-name", "/none")
    assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr


def test_dockyard_logs_tail_follows_new_events(server: ServerProcess, logs: Any) -> None:
    """`dockyard logs tail GROUP --follow` (the aws CLI v1 has no `logs tail`)."""
    logs.create_log_group(logGroupName="/tail/app")
    logs.create_log_stream(logGroupName="/tail/app", logStreamName="s")
    put(logs, "/tail/app", "s", ["before 1", "before 2"], now_ms() - 1000)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"}
    command = [sys.executable, "-m", "dockyard", "--endpoint", server.endpoint, "logs", "tail"]
    once = subprocess.run(
        [*command, "/tail/app", "--format", "short"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert [line.split(" ", 1)[1] for line in once.stdout.splitlines()] == ["before 1", "before 2"]

    follow = subprocess.Popen(
        [*command, "/tail/app", "--follow"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert follow.stdout is not None
        lines = [follow.stdout.readline(), follow.stdout.readline()]
        assert [line.split()[-2:] for line in lines] == [["before", "1"], ["before", "2"]]
        put(logs, "/tail/app", "s", ["after 3"], now_ms())
        started = time.monotonic()
        line = follow.stdout.readline()  # bounded: the test's timeout ends a hung read
        assert line.rstrip().endswith(" s after 3")
        assert time.monotonic() - started < 10
    finally:
        follow.terminate()
        follow.wait(timeout=10)
        if follow.stdout is not None:
            follow.stdout.close()
