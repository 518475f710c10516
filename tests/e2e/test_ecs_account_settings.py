"""ECS account settings end to end: boto3 and the aws CLI against a real server.

What a user meets: every setting listed with AWS's defaults, per-principal settings over
the account default, value checks, and the settings that change what Dockyard does
(containerInsights for new clusters, taskLongArnFormat for new task ARNs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_error,
    aws_json,
    client_error,
    wait_for,
)

ROOT = "arn:aws:iam::000000000000:root"
DEFAULTS = {
    "serviceLongArnFormat": "enabled",
    "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled",
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "fargateFIPSMode": "disabled",
    "tagResourceAuthorization": "on",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "off",
    "defaultLogDriverMode": "non-blocking",
    "fargateEventWindows": "disabled",
}


def all_settings(ecs: Any, **params: Any) -> list[dict[str, Any]]:
    pages = ecs.get_paginator("list_account_settings").paginate(
        **params, PaginationConfig={"PageSize": 3}
    )
    return [s for page in pages for s in page["settings"]]


def test_defaults_cover_every_setting_of_the_model(ecs: Any) -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    assert set(DEFAULTS) == set(model.shape_for("SettingName").enum)
    effective = all_settings(ecs, effectiveSettings=True)  # 11 settings over pages of 3
    assert {s["name"]: s["value"] for s in effective} == DEFAULTS
    assert {s["principalArn"] for s in effective} == {ROOT}
    types = {s["name"]: s["type"] for s in effective}
    assert types["guardDutyActivate"] == "aws_managed" and types["containerInsights"] == "user"
    assert ecs.list_account_settings()["settings"] == []  # nothing set yet
    first = ecs.list_account_settings(effectiveSettings=True, maxResults=10)
    assert len(first["settings"]) == 10 and first["nextToken"]


def test_put_list_delete_and_the_precedence(ecs: Any) -> None:
    put = ecs.put_account_setting_default(name="containerInsights", value="enhanced")["setting"]
    assert put == {
        "name": "containerInsights",
        "value": "enhanced",
        "principalArn": ROOT,
        "type": "user",
    }
    mine = ecs.put_account_setting(name="awsvpcTrunking", value="enabled")["setting"]
    assert mine["principalArn"] == ROOT  # no --credentials: every caller is the root user
    listed = ecs.list_account_settings(name="containerInsights", value="enhanced")["settings"]
    assert [s["value"] for s in listed] == ["enhanced"]
    assert ecs.list_account_settings(name="containerInsights", value="enabled")["settings"] == []
    user = "arn:aws:iam::000000000000:user/deploy"
    ecs.put_account_setting(name="containerInsights", value="disabled", principalArn=user)
    for_user = all_settings(ecs, effectiveSettings=True, principalArn=user)
    by_name = {s["name"]: s for s in for_user}
    assert by_name["containerInsights"]["value"] == "disabled"
    assert by_name["containerInsights"]["principalArn"] == user
    assert by_name["awsvpcTrunking"] == {  # the account's setting applies to the user
        "name": "awsvpcTrunking",
        "value": "enabled",
        "principalArn": ROOT,
        "type": "user",
    }
    deleted = ecs.delete_account_setting(name="containerInsights", principalArn=user)["setting"]
    assert (deleted["value"], deleted["principalArn"]) == ("disabled", user)
    after = ecs.list_account_settings(
        effectiveSettings=True, principalArn=user, name="containerInsights"
    )["settings"]
    assert [(s["value"], s["principalArn"]) for s in after] == [("enhanced", ROOT)]


BAD_REQUESTS = [
    pytest.param(
        "put_account_setting",
        {"name": "containerInsights", "value": "yes"},
        "InvalidParameterException",
        id="bad-value",
    ),
    pytest.param(
        "put_account_setting",
        {"name": "fargateTaskRetirementWaitPeriod", "value": "3"},
        "InvalidParameterException",
        id="bad-wait-period",
    ),
    pytest.param(
        "put_account_setting_default",
        {"name": "guardDutyActivate", "value": "on"},
        "InvalidParameterException",
        id="aws-managed",
    ),
    pytest.param(
        "put_account_setting",
        {
            "name": "fargateFIPSMode",
            "value": "enabled",
            "principalArn": "arn:aws:iam::000000000000:role/app",
        },
        "InvalidParameterException",
        id="account-only-for-a-role",
    ),
    pytest.param(
        "put_account_setting",
        {
            "name": "containerInsights",
            "value": "enabled",
            "principalArn": "arn:aws:iam::111111111111:user/other",
        },
        "InvalidParameterException",
        id="other-account",
    ),
    pytest.param(
        "put_account_setting",
        {
            "name": "containerInsights",
            "value": "enabled",
            "principalArn": "arn:aws:sts::000000000000:assumed-role/r/session",
        },
        "InvalidParameterException",
        id="federated",
    ),
    pytest.param(
        "list_account_settings",
        {"value": "enabled"},
        "InvalidParameterException",
        id="value-without-name",
    ),
    pytest.param(
        "list_account_settings",
        {"maxResults": 11},
        "InvalidParameterException",
        id="max-results",
    ),
    pytest.param(
        "list_account_settings",
        {"nextToken": "garbage!"},
        "InvalidParameterException",
        id="next-token",
    ),
    pytest.param(
        "delete_account_setting",
        {"name": "guardDutyActivate"},
        "InvalidParameterException",
        id="delete-aws-managed",
    ),
]


def test_bad_requests_are_refused_and_write_nothing(ecs: Any) -> None:
    """One server for every case (server starts are the slow part on a busy machine)."""
    user = "arn:aws:iam::000000000000:role/app"
    for case in BAD_REQUESTS:
        operation, params, code = case.values
        assert client_error(getattr(ecs, operation), **params)[0] == code, case.id
        assert ecs.list_account_settings()["settings"] == [], case.id
        assert ecs.list_account_settings(principalArn=user)["settings"] == [], case.id


def test_container_insights_default_applies_to_new_clusters(ecs: Any) -> None:
    before = ecs.create_cluster(clusterName="before")["cluster"]["settings"]
    assert before == [{"name": "containerInsights", "value": "disabled"}]
    ecs.put_account_setting_default(name="containerInsights", value="enabled")
    after = ecs.create_cluster(clusterName="after")["cluster"]["settings"]
    assert after == [{"name": "containerInsights", "value": "enabled"}]
    chosen = ecs.create_cluster(
        clusterName="chosen", settings=[{"name": "containerInsights", "value": "disabled"}]
    )["cluster"]["settings"]
    assert chosen == [{"name": "containerInsights", "value": "disabled"}]
    described = ecs.describe_clusters(clusters=["before"], include=["SETTINGS"])["clusters"][0]
    assert described["settings"] == before  # existing clusters keep theirs


def test_task_arn_format_follows_the_setting(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    ecs.create_cluster(clusterName="stage01")
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "x", "memory": 64}]
    )
    agent = AgentProcess(
        server.endpoint, tmp_path / "agent", "127.0.1.1", extra_args=["--fake-runtime"]
    )
    agent.start(timeout=60)
    try:
        _check_task_arn_formats(ecs)
    finally:
        agent.stop()


def _check_task_arn_formats(ecs: Any) -> None:
    long_task = ecs.run_task(cluster="stage01", taskDefinition="web")["tasks"][0]
    assert long_task["taskArn"].split(":task/")[1].startswith("stage01/")
    ecs.put_account_setting_default(name="taskLongArnFormat", value="disabled")
    short_task = ecs.run_task(cluster="stage01", taskDefinition="web")["tasks"][0]
    short_arn = short_task["taskArn"]
    task_id = short_arn.rsplit("/", 1)[1]
    assert short_arn == f"arn:aws:ecs:us-east-1:000000000000:task/{task_id}"
    described = ecs.describe_tasks(cluster="stage01", tasks=[short_arn, task_id])
    assert [t["taskArn"] for t in described["tasks"]] == [short_arn, short_arn]
    assert described["failures"] == []
    listed = ecs.list_tasks(cluster="stage01")["taskArns"]
    assert set(listed) == {long_task["taskArn"], short_arn}
    ecs.create_cluster(clusterName="other")
    elsewhere = ecs.describe_tasks(cluster="other", tasks=[short_arn])
    assert elsewhere["tasks"] == [] and elsewhere["failures"][0]["reason"] == "MISSING"
    wait_for(  # the host's agent reports on the short ARN like on any other
        lambda: (
            ecs.describe_tasks(cluster="stage01", tasks=[task_id])["tasks"][0]["lastStatus"]
            == "RUNNING"
        ),
        timeout=60,
        what="the short-ARN task RUNNING",
    )
    stopped = ecs.stop_task(cluster="stage01", task=task_id)["task"]
    assert stopped["taskArn"] == short_arn and stopped["desiredStatus"] == "STOPPED"
    wait_for(
        lambda: (
            ecs.describe_tasks(cluster="stage01", tasks=[short_arn])["tasks"][0]["lastStatus"]
            == "STOPPED"
        ),
        timeout=60,
        what="the short-ARN task STOPPED by its agent",
    )


def test_update_cluster_setting_without_a_name_is_a_client_error(ecs: Any) -> None:
    ecs.create_cluster(clusterName="stage01")
    for call in (ecs.update_cluster, ecs.update_cluster_settings):  # client_error: HTTP 400
        refused = client_error(call, cluster="stage01", settings=[{"value": "enabled"}])
        assert refused[0] == "InvalidParameterException"
    cluster = ecs.describe_clusters(clusters=["stage01"], include=["SETTINGS"])["clusters"][0]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]


# --- principals with --credentials ---------------------------------------------------------

KEYS = {"AKIDALICE": "alice-secret", "AKIDBOB": "bob-secret"}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps(KEYS))
    proc = ServerProcess(tmp_path / "data", extra_args=["--credentials", str(credentials)])
    proc.start()
    yield proc
    proc.stop()


def test_each_access_key_is_its_own_principal(secured: ServerProcess) -> None:
    alice = secured.client(aws_access_key_id="AKIDALICE", aws_secret_access_key=KEYS["AKIDALICE"])
    bob = secured.client(aws_access_key_id="AKIDBOB", aws_secret_access_key=KEYS["AKIDBOB"])
    alice_arn = "arn:aws:iam::000000000000:user/AKIDALICE"
    put = alice.put_account_setting(name="containerInsights", value="enabled")["setting"]
    assert put["principalArn"] == alice_arn
    assert alice.create_cluster(clusterName="a")["cluster"]["settings"][0]["value"] == "enabled"
    assert bob.create_cluster(clusterName="b")["cluster"]["settings"][0]["value"] == "disabled"
    denied = client_error(  # only root or alice may change alice's
        bob.put_account_setting, name="containerInsights", value="disabled", principalArn=alice_arn
    )
    assert denied[0] == "AccessDeniedException"
    assert client_error(bob.list_account_settings, principalArn=alice_arn)[0] == (
        "AccessDeniedException"
    )
    bob.put_account_setting_default(name="containerInsights", value="enhanced")
    assert bob.create_cluster(clusterName="c")["cluster"]["settings"][0]["value"] == "enhanced"
    assert alice.create_cluster(clusterName="d")["cluster"]["settings"][0]["value"] == "enabled"
    own = alice.list_account_settings()["settings"]
    assert [(s["name"], s["value"], s["principalArn"]) for s in own] == [
        ("containerInsights", "enabled", alice_arn)
    ]


# --- the aws CLI -----------------------------------------------------------------------------


def test_account_settings_with_the_aws_cli(server: ServerProcess) -> None:
    def cli(*args: str) -> dict[str, Any]:
        return aws_json(server.endpoint, "ecs", *args)

    put = cli("put-account-setting-default", "--name", "taskLongArnFormat", "--value", "disabled")
    assert put["setting"]["value"] == "disabled"
    put = cli(
        "put-account-setting",
        "--name",
        "containerInsights",
        "--value",
        "enhanced",
        "--principal-arn",
        ROOT,
    )
    assert put["setting"]["principalArn"] == ROOT
    listed = cli("list-account-settings", "--effective-settings")  # all pages
    values = {s["name"]: s["value"] for s in listed["settings"]}
    assert values == DEFAULTS | {"taskLongArnFormat": "disabled", "containerInsights": "enhanced"}
    deleted = cli("delete-account-setting", "--name", "taskLongArnFormat", "--principal-arn", ROOT)
    assert deleted["setting"]["value"] == "disabled"
    again = cli("list-account-settings", "--name", "taskLongArnFormat", "--effective-settings")
    assert [s["value"] for s in again["settings"]] == ["enabled"]
    bad = aws_error(
        server.endpoint,
        "ecs",
        "put-account-setting",
        "--name",
        "containerInsights",
        "--value",
        "maybe",
    )
    assert "InvalidParameterException" in bad
