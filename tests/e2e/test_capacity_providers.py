"""Capacity providers end to end: a real server, two fake-runtime agents joining providers
(one by `--capacity-provider`, one by ECS_CAPACITY_PROVIDER in its env file), the aws CLI
for the provider and cluster calls, boto3 for a service whose strategy's base and weights
hold as it scales."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ClusterEnv, cluster_env, wait_for

pytestmark = pytest.mark.e2e

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/"


@dataclass
class Env(ClusterEnv):
    @property
    def members(self) -> dict[str, str]:
        """Container instance ARN -> its provider (the first host ondemand, the second spot)."""
        ondemand, spot = self.agents
        return {ondemand.instance_arn: "ondemand", spot.instance_arn: "spot"}

    def service_tasks(self, name: str) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=name)["taskArns"]
        if not arns:
            return []
        return list(self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"])

    def wait_running(self, name: str, count: int) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            tasks = self.service_tasks(name)
            running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
            return running if len(running) == count == len(tasks) else None

        return list(wait_for(check, 90, interval=0.3, what=f"{name}: {count} running"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    env_file = tmp_path / "spot.env"
    env_file.write_text("ECS_CAPACITY_PROVIDER=spot\n")
    hosts = {
        "127.0.8.1": ["--capacity-provider", "ondemand"],
        "127.0.8.2": ["--config", str(env_file)],
    }
    with cluster_env(Env, tmp_path, "cp", hosts) as built:
        yield built


def test_providers_with_the_aws_cli_and_a_service_split_that_holds(env: Env) -> None:
    for name in ("ondemand", "spot"):
        created = env.cli(
            "create-capacity-provider",
            "--name", name,
            "--auto-scaling-group-provider", f"autoScalingGroupArn={ASG}{name}",
        )["capacityProvider"]  # fmt: skip
        assert created["status"] == "ACTIVE"
        assert created["autoScalingGroupProvider"]["managedScaling"]["status"] == "DISABLED"
    listed = env.cli("describe-capacity-providers")["capacityProviders"]
    assert {p["name"] for p in listed} == {"FARGATE", "FARGATE_SPOT", "ondemand", "spot"}
    cluster = env.cli(
        "put-cluster-capacity-providers",
        "--cluster", env.cluster,
        "--capacity-providers", "ondemand", "spot",
        "--default-capacity-provider-strategy", "capacityProvider=spot,weight=1",
    )["cluster"]  # fmt: skip
    assert cluster["capacityProviders"] == ["ondemand", "spot"]
    shown = env.ecs.describe_clusters(clusters=[env.cluster])["clusters"][0]
    assert shown["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "spot", "weight": 1, "base": 0}
    ]
    instances = env.ecs.describe_container_instances(
        cluster=env.cluster, containerInstances=list(env.members)
    )["containerInstances"]
    assert {i["containerInstanceArn"]: i["capacityProviderName"] for i in instances} == (
        env.members
    )

    definition = env.ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 32, "cpu": 16}],
    )["taskDefinition"]["taskDefinitionArn"]
    strategy = [
        {"capacityProvider": "ondemand", "base": 1, "weight": 1},
        {"capacityProvider": "spot", "weight": 3},
    ]
    error = env.ecs.exceptions.InvalidParameterException
    with pytest.raises(error, match="Specifying both a launch type"):
        env.ecs.create_service(cluster=env.cluster, serviceName="web", taskDefinition=definition,
                               desiredCount=1, launchType="EC2",
                               capacityProviderStrategy=strategy)  # fmt: skip
    service = env.ecs.create_service(
        cluster=env.cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=5,
        capacityProviderStrategy=strategy,
    )["service"]
    assert service["capacityProviderStrategy"] == [
        {"capacityProvider": "ondemand", "weight": 1, "base": 1},
        {"capacityProvider": "spot", "weight": 3, "base": 0},
    ]
    assert "launchType" not in service

    def split(tasks: list[dict[str, Any]]) -> Counter[str]:
        for task in tasks:  # each share ran on its provider's instance
            assert env.members[task["containerInstanceArn"]] == task["capacityProviderName"]
        return Counter(t["capacityProviderName"] for t in tasks)

    # 5 = ondemand's base 1, then 4 by weight 1:3.
    assert split(env.wait_running("web", 5)) == {"ondemand": 2, "spot": 3}
    env.ecs.update_service(cluster=env.cluster, service="web", desiredCount=9)
    # 9 = base 1, then 8 by weight 1:3 -> 2 and 6: the service's tasks are counted.
    assert split(env.wait_running("web", 9)) == {"ondemand": 3, "spot": 6}
    # Scale-in follows the strategy too: 6 = base 1, then 5 by 1:3 -> 2 and 4 (the
    # service's spread over instances alone would stop spot tasks down to 3 and 3).
    env.ecs.update_service(cluster=env.cluster, service="web", desiredCount=6)
    assert split(env.wait_running("web", 6)) == {"ondemand": 2, "spot": 4}
    env.ecs.update_service(cluster=env.cluster, service="web", desiredCount=9)
    assert split(env.wait_running("web", 9)) == {"ondemand": 3, "spot": 6}

    refused = env.cli_error(
        "put-cluster-capacity-providers",
        "--cluster", env.cluster,
        "--capacity-providers", "ondemand",
        "--default-capacity-provider-strategy", "capacityProvider=ondemand,weight=1",
    )  # fmt: skip
    assert "ResourceInUseException" in refused
    kept = env.ecs.describe_clusters(clusters=[env.cluster])["clusters"][0]
    assert kept["capacityProviders"] == ["ondemand", "spot"]
    deleting = env.cli("delete-capacity-provider", "--capacity-provider", "spot")
    assert deleting["capacityProvider"]["updateStatus"] == "DELETE_FAILED"

    # RunTask without launchType uses the cluster's default strategy (spot).
    ran = env.ecs.run_task(cluster=env.cluster, taskDefinition=definition, count=2)
    assert ran["failures"] == []
    assert split(ran["tasks"]) == {"spot": 2}
