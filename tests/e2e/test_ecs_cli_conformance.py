"""The operations of issue 12 that other e2e modules drive only one way: here the other.

Capacity providers: the aws CLI drives them in test_capacity_providers.py; here boto3
drives all five, and the CLI UpdateCapacityProvider. ExecuteCommand: boto3 drives it in
test_exec_docker.py; here the aws CLI v1 (`aws ecs execute-command`), which calls the
API, then DescribeTasks for the container's runtimeId, then hands the session to AWS's
session-manager-plugin: a stand-in plugin on PATH records what the CLI parsed and
passes. The audit table (operation -> boto3 test -> CLI test) is in docs/decisions.md.
Real server, a fake-runtime agent: no Docker, runs in the parallel group.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ClusterEnv, aws_cli, client_error, cluster_env, wait_for

pytestmark = pytest.mark.e2e

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/"


@dataclass
class Env(ClusterEnv):
    pass


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with cluster_env(Env, tmp_path, "cli", {"127.0.9.1": ["--capacity-provider", "blue"]}) as e:
        yield e


def test_capacity_providers_with_boto3_and_update_with_the_cli(env: Env) -> None:
    ecs = env.ecs
    created = ecs.create_capacity_provider(
        name="blue",
        autoScalingGroupProvider={
            "autoScalingGroupArn": ASG + "blue",
            "managedTerminationProtection": "DISABLED",
        },
        tags=[{"key": "team", "value": "web"}],
    )["capacityProvider"]
    assert created["name"] == "blue" and created["status"] == "ACTIVE"
    described = ecs.describe_capacity_providers(capacityProviders=["blue"], include=["TAGS"])
    assert described["capacityProviders"][0]["tags"] == [{"key": "team", "value": "web"}]
    updated = ecs.update_capacity_provider(
        name="blue",
        autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 80}},
    )["capacityProvider"]
    assert updated["updateStatus"] == "UPDATE_COMPLETE"
    assert updated["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    by_cli = env.cli(
        "update-capacity-provider", "--name", "blue",
        "--auto-scaling-group-provider",
        "managedScaling={status=ENABLED,targetCapacity=60},managedDraining=DISABLED",
    )["capacityProvider"]  # fmt: skip
    assert by_cli["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 60
    assert "InvalidParameterException" in env.cli_error(
        "update-capacity-provider", "--name", "missing",
        "--auto-scaling-group-provider", "managedDraining=DISABLED",
    )  # fmt: skip
    cluster = ecs.put_cluster_capacity_providers(
        cluster=env.cluster,
        capacityProviders=["blue"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "blue", "weight": 1, "base": 1}],
    )["cluster"]
    assert cluster["capacityProviders"] == ["blue"]
    refused = ecs.delete_capacity_provider(capacityProvider="blue")["capacityProvider"]
    assert refused["updateStatus"] == "DELETE_FAILED"  # still listed by the cluster
    ecs.put_cluster_capacity_providers(
        cluster=env.cluster, capacityProviders=[], defaultCapacityProviderStrategy=[]
    )
    deleted = ecs.delete_capacity_provider(capacityProvider="blue")["capacityProvider"]
    assert deleted["status"] == "INACTIVE"
    assert client_error(ecs.update_capacity_provider, name="blue", autoScalingGroupProvider={})[
        0
    ] in {"ClientException", "InvalidParameterException"}


PLUGIN = """#!{python}
import json, sys
if len(sys.argv) > 1:
    with open({record!r}, "w") as out:
        json.dump(sys.argv[1:], out)
"""


def test_execute_command_with_the_aws_cli(env: Env, tmp_path: Path) -> None:
    env.ecs.register_task_definition(
        family="shell", containerDefinitions=[{"name": "app", "image": "x", "memory": 32}]
    )
    task = env.ecs.run_task(cluster=env.cluster, taskDefinition="shell", enableExecuteCommand=True)[
        "tasks"
    ][0]
    arn = task["taskArn"]
    wait_for(
        lambda: (
            env.ecs.describe_tasks(cluster=env.cluster, tasks=[arn])["tasks"][0]["lastStatus"]
            == "RUNNING"
        ),
        timeout=60,
        what="the task RUNNING",
    )
    bin_dir, record = tmp_path / "bin", tmp_path / "plugin-args.json"
    bin_dir.mkdir()
    plugin = bin_dir / "session-manager-plugin"
    plugin.write_text(PLUGIN.format(python=sys.executable, record=str(record)))
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    done = aws_cli(
        env.server.endpoint, "ecs", "execute-command", "--cluster", env.cluster,
        "--task", arn, "--container", "app", "--interactive", "--command", "sh",
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    session_json, region, action, _profile, target_json, endpoint = json.loads(record.read_text())
    session = json.loads(session_json)
    assert session["sessionId"].startswith("ecs-execute-command-")
    assert session["streamUrl"].startswith("ws://") and session["tokenValue"]
    assert (region, action, endpoint) == ("us-east-1", "StartSession", env.server.endpoint)
    task_id = arn.rsplit("/", 1)[1]
    assert json.loads(target_json)["Target"].startswith(f"ecs:{env.cluster}_{task_id}_")
    # Refused with AWS's error when the task was run without enableExecuteCommand.
    plain = env.ecs.run_task(cluster=env.cluster, taskDefinition="shell")["tasks"][0]["taskArn"]
    refused = aws_cli(
        env.server.endpoint, "ecs", "execute-command", "--cluster", env.cluster,
        "--task", plain, "--container", "app", "--interactive", "--command", "sh",
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert refused.returncode != 0 and "InvalidParameterException" in refused.stderr


OPERATIONS = [
    "PutAccountSetting", "PutAccountSettingDefault", "ListAccountSettings",
    "DeleteAccountSetting", "CreateCapacityProvider", "DescribeCapacityProviders",
    "UpdateCapacityProvider", "DeleteCapacityProvider", "PutClusterCapacityProviders",
    "CreateTaskSet", "DescribeTaskSets", "UpdateTaskSet", "DeleteTaskSet",
    "UpdateServicePrimaryTaskSet", "ListServiceDeployments", "DescribeServiceDeployments",
    "DescribeServiceRevisions", "StopServiceDeployment", "SubmitTaskStateChange",
    "SubmitContainerStateChange", "SubmitAttachmentStateChanges", "DiscoverPollEndpoint",
    "UpdateContainerAgent", "ExecuteCommand", "RunTask (Fargate, awsvpc)",
    "CreateService (Fargate, awsvpc)",
]  # fmt: skip


def test_the_audit_table_names_every_operation() -> None:
    """docs/decisions.md keeps the audit: every operation of issue 12 with its tests."""
    text = (Path(__file__).parents[2] / "docs" / "decisions.md").read_text()
    section = text.split("## ECS conformance: boto3 and the aws CLI", 1)[1].split("\n## ", 1)[0]
    missing = [op for op in OPERATIONS if f"| {op} |" not in section]
    assert missing == []


FARGATE_WEB = {
    "family": "web-fargate",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {"name": "web", "image": "x", "portMappings": [{"containerPort": 8080}]}
    ],
}
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0abc1234"]}}


@pytest.fixture
def awsvpc_env(tmp_path: Path) -> Iterator[Env]:
    """One host whose awsvpc pool has two addresses (127.0.9.17 and .18 of a /30)."""
    with cluster_env(Env, tmp_path, "vpc", {"127.0.9.2": ["--awsvpc-pool", "127.0.9.16/30"]}) as e:
        yield e


def test_fargate_service_with_the_cli_and_the_pool_as_a_limit(awsvpc_env: Env) -> None:
    """CreateService with a Fargate-style definition through the aws CLI; its third task
    finds no free address on the only host: RESOURCE:ENI, in the service's event as in
    RunTask's failures (ECS's ENI limit)."""
    env = awsvpc_env
    env.ecs.register_task_definition(**FARGATE_WEB)
    created = env.cli(
        "create-service", "--cluster", env.cluster, "--service-name", "web",
        "--task-definition", "web-fargate", "--desired-count", "3", "--launch-type", "FARGATE",
        "--network-configuration", json.dumps(NETWORK),
    )["service"]  # fmt: skip
    assert created["launchType"] == "FARGATE"
    assert created["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-0abc1234"]

    def service() -> dict[str, Any]:
        return dict(env.cli("describe-services", "--cluster", env.cluster, "--services", "web")[
            "services"
        ][0])  # fmt: skip

    shown = wait_for(
        lambda: (
            (s := service())["runningCount"] == 2
            and any("awsvpc address" in e["message"] for e in s["events"])
            and s
        ),
        timeout=90,
        what="two tasks running and the third unplaceable",
    )
    assert shown["desiredCount"] == 3

    def run_one() -> dict[str, Any]:
        return dict(
            env.ecs.run_task(
                cluster=env.cluster,
                taskDefinition="web-fargate",
                launchType="FARGATE",
                networkConfiguration=NETWORK,
            )
        )

    ran = run_one()
    assert ran["tasks"] == []
    assert [f["reason"] for f in ran["failures"]] == ["RESOURCE:ENI"]
    env.ecs.update_service(cluster=env.cluster, service="web", desiredCount=1)
    wait_for(lambda: service()["runningCount"] == 1, timeout=90, what="scaled in to 1")
    # The stopped tasks' addresses come back once they are STOPPED: bounded retries.
    again = wait_for(
        lambda: (r := run_one())["tasks"] and r,
        timeout=60,
        interval=1.0,
        what="an address given back by a stopped task",
    )
    assert again["failures"] == []
