"""Task sets and the EXTERNAL deployment controller end to end: a real server and a
fake-runtime agent, driven by boto3 and the aws CLI: a blue/green deployment by hand
(CreateTaskSet, UpdateServicePrimaryTaskSet, UpdateTaskSet, DeleteTaskSet), each task
set's tasks registered in its own target group, and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ClusterEnv, client_error, cluster_env, wait_for

pytestmark = pytest.mark.e2e
TIMEOUT = 90.0


@dataclass
class Env(ClusterEnv):
    def register(self, image: str = "dockyard-demo/web:1") -> str:
        definition = self.ecs.register_task_definition(
            family="web",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": image,
                    "memory": 64,
                    "cpu": 32,
                    "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                }
            ],
        )["taskDefinition"]
        return str(definition["taskDefinitionArn"])

    def external_service(self, name: str, desired: int) -> dict[str, Any]:
        created = self.ecs.create_service(
            cluster=self.cluster,
            serviceName=name,
            desiredCount=desired,
            deploymentController={"type": "EXTERNAL"},
        )
        return dict(created["service"])

    def service(self, name: str) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=self.cluster, services=[name])["services"]
        return dict(found[0])

    def task_set(self, service: str, ref: str) -> dict[str, Any] | None:
        answer = self.ecs.describe_task_sets(cluster=self.cluster, service=service, taskSets=[ref])
        return dict(answer["taskSets"][0]) if answer["taskSets"] else None

    def live_tasks(self, service: str) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=service)["taskArns"]
        if not arns:
            return []
        described = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]
        return [t for t in described if t["desiredStatus"] == "RUNNING"]

    def running_by_set(self, service: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.live_tasks(service):
            if task["lastStatus"] == "RUNNING":
                counts[task["startedBy"]] = counts.get(task["startedBy"], 0) + 1
        return counts

    def wait_counts(self, service: str, expected: dict[str, int]) -> None:
        """Exactly `expected` running tasks per task set id and no other live task."""

        def check() -> bool:
            live = self.live_tasks(service)
            return self.running_by_set(service) == expected and len(live) == sum(expected.values())

        wait_for(check, TIMEOUT, interval=0.3, what=f"{service} tasks per task set {expected}")

    def wait_steady(self, service: str, ref: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.task_set(service, ref)
            return found if found and found["stabilityStatus"] == "STEADY_STATE" else None

        return dict(wait_for(check, TIMEOUT, interval=0.3, what=f"{ref} STEADY_STATE"))

    def wait_gone(self, service: str, ref: str) -> None:
        def check() -> bool:
            answer = self.ecs.describe_task_sets(
                cluster=self.cluster, service=service, taskSets=[ref]
            )
            return answer["failures"] == [{"arn": ref, "reason": "MISSING"}]

        wait_for(check, TIMEOUT, interval=0.3, what=f"{ref} removed")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with cluster_env(Env, tmp_path, "ts", {"127.0.8.1": []}, cpu=1024, memory=1024) as built:
        yield built


def test_blue_green_by_hand_with_boto3(env: Env) -> None:
    blue_def, green_def = env.register("dockyard-demo/web:1"), env.register("dockyard-demo/web:2")
    created = env.external_service("web", 4)
    assert created["deploymentController"] == {"type": "EXTERNAL"}
    assert created["deployments"] == []
    assert created["taskSets"] == []

    blue = env.ecs.create_task_set(
        cluster=env.cluster, service="web", taskDefinition=blue_def, externalId="blue"
    )["taskSet"]
    assert blue["status"] == "PRIMARY"  # a service's first task set
    assert blue["computedDesiredCount"] == 4
    assert blue["scale"] == {"value": 100.0, "unit": "PERCENT"}
    assert blue["taskSetArn"] == (
        f"arn:aws:ecs:us-east-1:000000000000:task-set/{env.cluster}/web/{blue['id']}"
    )
    assert blue["id"].startswith("ecs-svc/")
    assert blue["launchType"] == "EC2"
    assert blue["stabilityStatus"] == "STABILIZING"
    env.wait_counts("web", {blue["id"]: 4})
    steady = env.wait_steady("web", blue["id"])
    assert (steady["runningCount"], steady["pendingCount"]) == (4, 0)
    for task in env.live_tasks("web"):
        assert task["group"] == "service:web"
        assert task["taskDefinitionArn"] == blue_def

    # The green task set at 50 %: 2 more tasks, the blue ones untouched.
    green = env.ecs.create_task_set(
        cluster=env.cluster,
        service="web",
        taskDefinition=green_def,
        scale={"value": 50.0, "unit": "PERCENT"},
        externalId="green",
    )["taskSet"]
    assert (green["status"], green["computedDesiredCount"]) == ("ACTIVE", 2)
    env.wait_counts("web", {blue["id"]: 4, green["id"]: 2})
    service = env.service("web")
    assert service["taskDefinition"] == blue_def  # the primary task set's
    assert {t["id"]: t["status"] for t in service["taskSets"]} == {
        blue["id"]: "PRIMARY",
        green["id"]: "ACTIVE",
    }
    assert service["runningCount"] == 6

    # Promote green, scale it to 100 %, delete blue.
    promoted = env.ecs.update_service_primary_task_set(
        cluster=env.cluster, service="web", primaryTaskSet=green["taskSetArn"]
    )["taskSet"]
    assert promoted["status"] == "PRIMARY"
    assert env.task_set("web", blue["id"])["status"] == "ACTIVE"  # type: ignore[index]
    assert env.service("web")["taskDefinition"] == green_def
    scaled = env.ecs.update_task_set(
        cluster=env.cluster,
        service="web",
        taskSet=green["id"],
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]
    assert scaled["computedDesiredCount"] == 4
    env.wait_counts("web", {blue["id"]: 4, green["id"]: 4})

    with pytest.raises(ClientError) as refused:  # not scaled down to 0, no force
        env.ecs.delete_task_set(cluster=env.cluster, service="web", taskSet=blue["id"])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    deleted = env.ecs.delete_task_set(
        cluster=env.cluster, service="web", taskSet=blue["id"], force=True
    )["taskSet"]
    assert (deleted["status"], deleted["computedDesiredCount"]) == ("DRAINING", 0)
    env.wait_counts("web", {green["id"]: 4})
    env.wait_gone("web", blue["id"])
    blue_tasks = env.ecs.list_tasks(cluster=env.cluster, serviceName="web", desiredStatus="STOPPED")
    stopped = env.ecs.describe_tasks(cluster=env.cluster, tasks=blue_tasks["taskArns"])["tasks"]
    assert {t["startedBy"] for t in stopped} == {blue["id"]}
    assert len(stopped) == 4
    env.wait_steady("web", green["id"])

    # UpdateService changes desiredCount (the task sets follow), not what task sets set.
    env.ecs.update_service(cluster=env.cluster, service="web", desiredCount=2)
    env.wait_counts("web", {green["id"]: 2})
    assert env.task_set("web", green["id"])["computedDesiredCount"] == 2  # type: ignore[index]
    with pytest.raises(ClientError) as refused:
        env.ecs.update_service(cluster=env.cluster, service="web", taskDefinition=blue_def)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    # Deleting the service drains every task set.
    env.ecs.delete_service(cluster=env.cluster, service="web", force=True)
    wait_for(lambda: not env.live_tasks("web"), TIMEOUT, interval=0.3, what="no live task")


def test_task_sets_with_the_aws_cli(env: Env) -> None:
    first, second = env.register("dockyard-demo/web:1"), env.register("dockyard-demo/web:2")
    created = env.cli(
        "create-service",
        "--cluster",
        env.cluster,
        "--service-name",
        "api",
        "--desired-count",
        "2",
        "--deployment-controller",
        "type=EXTERNAL",
    )
    assert created["service"]["deploymentController"] == {"type": "EXTERNAL"}
    one = env.cli(
        "create-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--task-definition",
        first,
        "--scale",
        "value=100,unit=PERCENT",
        "--tags",
        "key=color,value=blue",
    )["taskSet"]
    assert one["tags"] == [{"key": "color", "value": "blue"}]
    two = env.cli(
        "create-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--task-definition",
        second,
        "--scale",
        "value=0,unit=PERCENT",
    )["taskSet"]
    assert two["computedDesiredCount"] == 0
    env.wait_counts("api", {one["id"]: 2})
    described = env.cli(
        "describe-task-sets", "--cluster", env.cluster, "--service", "api", "--include", "TAGS"
    )
    assert {t["id"] for t in described["taskSets"]} == {one["id"], two["id"]}
    tags = {t["id"]: t.get("tags") for t in described["taskSets"]}
    assert tags[one["id"]] == [{"key": "color", "value": "blue"}]
    updated = env.cli(
        "update-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--task-set",
        two["taskSetArn"],
        "--scale",
        "value=50,unit=PERCENT",
    )["taskSet"]
    assert updated["computedDesiredCount"] == 1
    primary = env.cli(
        "update-service-primary-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--primary-task-set",
        two["id"],
    )["taskSet"]
    assert primary["status"] == "PRIMARY"
    env.wait_counts("api", {one["id"]: 2, two["id"]: 1})
    gone = env.cli(
        "delete-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--task-set",
        one["id"],
        "--force",
    )["taskSet"]
    assert gone["status"] == "DRAINING"
    env.wait_counts("api", {two["id"]: 1})
    env.wait_gone("api", one["id"])
    assert "TaskSetNotFoundException" in env.cli_error(
        "update-task-set",
        "--cluster",
        env.cluster,
        "--service",
        "api",
        "--task-set",
        one["id"],
        "--scale",
        "value=10,unit=PERCENT",
    )


def test_errors(env: Env) -> None:
    definition = env.register()
    env.external_service("ext", 1)
    env.ecs.create_service(
        cluster=env.cluster, serviceName="rolling", taskDefinition=definition, desiredCount=0
    )
    ecs, cluster = env.ecs, env.cluster
    base = {"cluster": cluster, "taskDefinition": definition}
    missing = {"cluster": cluster, "service": "ext", "taskSet": "ecs-svc/1"}
    new_service = {"cluster": cluster, "desiredCount": 1, "taskDefinition": definition}
    no_group = [{"targetGroupArn": "arn:aws:elasticloadbalancing:nope"}]
    refusals: list[tuple[str, Any, dict[str, Any]]] = [
        ("ServiceNotFoundException", ecs.create_task_set, {"service": "missing", **base}),
        ("InvalidParameterException", ecs.create_task_set, {"service": "rolling", **base}),
        ("InvalidParameterException", ecs.describe_task_sets,
         {"cluster": cluster, "service": "rolling"}),
        ("TaskSetNotFoundException", ecs.update_task_set, {"scale": {"value": 5}, **missing}),
        ("TaskSetNotFoundException", ecs.delete_task_set, missing),
        ("TaskSetNotFoundException", ecs.update_service_primary_task_set,
         {"cluster": cluster, "service": "ext", "primaryTaskSet": "ecs-svc/1"}),
        ("InvalidParameterException", ecs.create_task_set,
         {"service": "ext", "scale": {"value": 150.0, "unit": "PERCENT"}, **base}),
        ("InvalidParameterException", ecs.create_task_set,
         {"service": "ext", "loadBalancers": no_group, **base}),
        ("ClientException", ecs.create_task_set,
         {"service": "ext", **base, "taskDefinition": "nope:9"}),
        ("UnsupportedFeatureException", ecs.create_service,
         {"serviceName": "cd", "deploymentController": {"type": "CODE_DEPLOY"}, **new_service}),
        ("InvalidParameterException", ecs.create_service,
         {"serviceName": "ext2", "deploymentController": {"type": "EXTERNAL"}, **new_service}),
        ("InvalidParameterException", ecs.update_service,
         {"cluster": cluster, "service": "ext", "forceNewDeployment": True}),
    ]  # fmt: skip
    for code, call, params in refusals:
        assert client_error(call, **params)[0] == code, (call, params)
    assert ecs.describe_task_sets(cluster=cluster, service="ext")["taskSets"] == []
    # A clientToken makes CreateTaskSet idempotent.
    one = ecs.create_task_set(service="ext", clientToken="t1", **base)["taskSet"]
    again = ecs.create_task_set(service="ext", clientToken="t1", **base)["taskSet"]
    assert one["id"] == again["id"]
    assert len(ecs.describe_task_sets(cluster=env.cluster, service="ext")["taskSets"]) == 1
    assert "clientToken" not in one

    # ContinueServiceDeployment: no lifecycle hooks on Dockyard.
    current = env.service("rolling")["currentServiceDeployment"]
    hook = {"serviceDeploymentArn": current, "hookId": "h1"}
    gone = {"serviceDeploymentArn": current + "x", "hookId": "h1"}
    assert client_error(ecs.continue_service_deployment, **hook)[0] == "InvalidParameterException"
    assert client_error(ecs.continue_service_deployment, **gone)[0] == (
        "ServiceDeploymentNotFoundException"
    )
    assert "ServiceDeploymentNotFoundException" in env.cli_error(
        "continue-service-deployment",
        "--service-deployment-arn",
        current + "x",
        "--hook-id",
        "h1",
    )


def test_each_task_set_registers_in_its_own_target_group(env: Env) -> None:
    elbv2 = env.server.client("elbv2")
    groups = {
        name: elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for name in ("blue", "green")
    }
    definition = env.register()
    env.external_service("web", 2)
    sets = {}
    for color, scale in (("blue", 100.0), ("green", 50.0)):
        sets[color] = env.ecs.create_task_set(
            cluster=env.cluster,
            service="web",
            taskDefinition=definition,
            scale={"value": scale, "unit": "PERCENT"},
            loadBalancers=[
                {"targetGroupArn": groups[color], "containerName": "web", "containerPort": 8080}
            ],
        )["taskSet"]
    assert sets["blue"]["loadBalancers"][0]["targetGroupArn"] == groups["blue"]
    assert env.service("web")["loadBalancers"] == sets["blue"]["loadBalancers"]  # primary's
    env.wait_counts("web", {sets["blue"]["id"]: 2, sets["green"]["id"]: 1})
    instance = env.ecs.describe_container_instances(
        cluster=env.cluster,
        containerInstances=env.ecs.list_container_instances(cluster=env.cluster)[
            "containerInstanceArns"
        ],
    )["containerInstances"][0]["ec2InstanceId"]

    def expected(set_id: str) -> set[tuple[str, int]]:
        return {
            (instance, binding["hostPort"])
            for task in env.live_tasks("web")
            if task["startedBy"] == set_id
            for container in task["containers"]
            for binding in container.get("networkBindings", [])
        }

    def targets(color: str) -> set[tuple[str, int]]:
        described = elbv2.describe_target_health(TargetGroupArn=groups[color])
        return {
            (d["Target"]["Id"], d["Target"]["Port"]) for d in described["TargetHealthDescriptions"]
        }

    for color in ("blue", "green"):
        want = expected(sets[color]["id"])
        assert len(want) == (2 if color == "blue" else 1)
        wait_for(lambda c=color, w=want: targets(c) == w, TIMEOUT, 0.3, f"{color} targets")

    env.ecs.delete_task_set(
        cluster=env.cluster, service="web", taskSet=sets["blue"]["id"], force=True
    )
    env.wait_counts("web", {sets["green"]["id"]: 1})
    wait_for(lambda: targets("blue") == set(), TIMEOUT, 0.3, "blue targets deregistered")
    assert targets("green") == expected(sets["green"]["id"])
    env.wait_gone("web", sets["blue"]["id"])
