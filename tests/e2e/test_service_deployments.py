"""Service deployment history end to end: a real server and a fake-runtime agent, driven by
boto3 and the aws CLI: ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment (ROLLBACK and ABORT)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    AgentProcess,
    ClusterEnv,
    ServerProcess,
    cluster_env,
    remove_task_containers,
    wait_for,
)

pytestmark = pytest.mark.e2e


@dataclass
class Env(ClusterEnv):
    def register(self, memory: int = 64) -> str:
        definition = self.ecs.register_task_definition(
            family="web",
            containerDefinitions=[
                {"name": "web", "image": "dockyard-demo/web:1", "memory": memory, "cpu": 64}
            ],
        )["taskDefinition"]
        return str(definition["taskDefinitionArn"])

    def service(self, name: str) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=self.cluster, services=[name])["services"]
        return dict(found[0])

    def deployments(self, name: str, **filters: Any) -> list[dict[str, Any]]:
        answer = self.ecs.list_service_deployments(cluster=self.cluster, service=name, **filters)
        return list(answer["serviceDeployments"])

    def describe(self, arn: str) -> dict[str, Any]:
        answer = self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])
        assert answer["failures"] == []
        return dict(answer["serviceDeployments"][0])

    def wait_status(self, arn: str, status: str, timeout: float = 90) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.describe(arn)
            return found if found["status"] == status else None

        return dict(wait_for(check, timeout, interval=0.3, what=f"{arn} {status}"))

    def wait_steady(self, name: str, count: int, timeout: float = 90) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.service(name)
            ok = (
                found["runningCount"] == count
                and len(found["deployments"]) == 1
                and found["deployments"][0]["rolloutState"] == "COMPLETED"
            )
            return found if ok else None

        return dict(wait_for(check, timeout, interval=0.3, what=f"{name} steady at {count}"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with cluster_env(Env, tmp_path, "hist", {"127.0.7.1": []}, cpu=1024, memory=1024) as built:
        yield built


def test_history_of_updates_and_a_requested_rollback(env: Env) -> None:
    first = env.register()
    created = env.ecs.create_service(
        cluster=env.cluster, serviceName="web", taskDefinition=first, desiredCount=2
    )["service"]
    sd1 = created["currentServiceDeployment"]
    assert sd1.startswith(
        f"arn:aws:ecs:us-east-1:000000000000:service-deployment/{env.cluster}/web/"
    )
    env.wait_steady("web", 2)
    one = env.wait_status(sd1, "SUCCESSFUL")
    assert one["sourceServiceRevisions"] == []
    rev1 = one["targetServiceRevision"]["arn"]
    deployment_id = created["deployments"][0]["id"]
    assert rev1 == (
        f"arn:aws:ecs:us-east-1:000000000000:service-revision/{env.cluster}/web/"
        + deployment_id.rsplit("/", 1)[-1]
    )
    assert one["targetServiceRevision"]["runningTaskCount"] == 2
    assert one["startedAt"] <= one["finishedAt"]
    assert one["deploymentCircuitBreaker"]["status"] == "DISABLED"
    revision = env.ecs.describe_service_revisions(serviceRevisionArns=[rev1])["serviceRevisions"][0]
    assert revision["taskDefinition"] == first
    assert revision["launchType"] == "EC2"
    assert revision["containerImages"] == [{"containerName": "web", "image": "dockyard-demo/web:1"}]
    shown = env.service("web")
    assert shown["currentServiceDeployment"] == sd1
    assert [r["arn"] for r in shown["currentServiceRevisions"]] == [rev1]

    # A second revision rolls out: its deployment goes from rev1 to rev2.
    second = env.register()
    updated = env.ecs.update_service(cluster=env.cluster, service="web", taskDefinition=second)
    sd2 = updated["service"]["currentServiceDeployment"]
    two = env.wait_status(sd2, "SUCCESSFUL")
    assert [s["arn"] for s in two["sourceServiceRevisions"]] == [rev1]
    rev2 = two["targetServiceRevision"]["arn"]
    env.wait_steady("web", 2)

    # A third cannot be placed (memory): it stays IN_PROGRESS until it is stopped.
    third = env.register(memory=4096)
    sd3 = env.ecs.update_service(cluster=env.cluster, service="web", taskDefinition=third)[
        "service"
    ]["currentServiceDeployment"]
    listed = env.deployments("web")
    assert [d["serviceDeploymentArn"] for d in listed] == [sd3, sd2, sd1]
    assert [d["status"] for d in listed] == ["IN_PROGRESS", "SUCCESSFUL", "SUCCESSFUL"]
    assert listed[1]["targetServiceRevisionArn"] == rev2
    assert [d["serviceDeploymentArn"] for d in env.deployments("web", status=["IN_PROGRESS"])] == [
        sd3
    ]

    # Stopped with the aws CLI (ROLLBACK is the default): back to the second revision.
    stopped = env.cli("stop-service-deployment", "--service-deployment-arn", sd3)
    assert stopped == {"serviceDeploymentArn": sd3}
    rolling = env.describe(sd3)
    assert rolling["status"] in {"ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"}
    assert rolling["rollback"]["serviceRevisionArn"] == rev2
    service = env.wait_steady("web", 2)
    assert service["taskDefinition"] == second
    assert {t["taskDefinitionArn"] for t in _tasks(env)} == {second}
    done = env.wait_status(sd3, "ROLLBACK_SUCCESSFUL")
    assert "finishedAt" in done
    assert service["currentServiceDeployment"] == sd3
    assert [r["arn"] for r in service["currentServiceRevisions"]] == [rev2]
    with pytest.raises(env.ecs.exceptions.ConflictException):
        env.ecs.stop_service_deployment(serviceDeploymentArn=sd3, stopType="ROLLBACK")

    # The aws CLI reads the same history.
    page = env.cli(
        "list-service-deployments",
        "--cluster",
        env.cluster,
        "--service",
        "web",
        "--status",
        "ROLLBACK_SUCCESSFUL",
    )
    assert [d["serviceDeploymentArn"] for d in page["serviceDeployments"]] == [sd3]
    described = env.cli("describe-service-deployments", "--service-deployment-arns", sd2, sd3 + "x")
    assert [d["serviceDeploymentArn"] for d in described["serviceDeployments"]] == [sd2]
    assert described["failures"] == [{"arn": sd3 + "x", "reason": "MISSING"}]
    revisions = env.cli("describe-service-revisions", "--service-revision-arns", rev1, rev2)
    assert [r["taskDefinition"] for r in revisions["serviceRevisions"]] == [first, second]
    assert "ServiceDeploymentNotFoundException" in env.cli_error(
        "stop-service-deployment", "--service-deployment-arn", sd3 + "x"
    )

    # Pagination (newest first) and the createdAt window.
    arns, token = [], None
    for _ in range(5):
        kwargs: dict[str, Any] = {"maxResults": 1}
        if token:
            kwargs["nextToken"] = token
        answer = env.ecs.list_service_deployments(cluster=env.cluster, service="web", **kwargs)
        arns += [d["serviceDeploymentArn"] for d in answer["serviceDeployments"]]
        token = answer.get("nextToken")
        if not token:
            break
    assert arns == [sd3, sd2, sd1]
    two = env.ecs.list_service_deployments(cluster=env.cluster, service="web", maxResults=2)
    assert [d["serviceDeploymentArn"] for d in two["serviceDeployments"]] == arns[:2]
    rest = env.ecs.list_service_deployments(
        cluster=env.cluster, service="web", maxResults=2, nextToken=two["nextToken"]
    )
    assert [d["serviceDeploymentArn"] for d in rest["serviceDeployments"]] == arns[2:]
    assert "nextToken" not in rest
    times = [env.describe(arn)["createdAt"] for arn in (sd1, sd2, sd3)]
    window = env.deployments("web", createdAt={"after": times[0] + (times[1] - times[0]) / 2})
    assert [d["serviceDeploymentArn"] for d in window] == [sd3, sd2]
    window = env.deployments("web", createdAt={"before": times[1] + (times[2] - times[1]) / 2})
    assert [d["serviceDeploymentArn"] for d in window] == [sd2, sd1]
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    assert env.deployments("web", createdAt={"after": future}) == []


def test_abort_and_errors(env: Env) -> None:
    first = env.register()
    created = env.ecs.create_service(
        cluster=env.cluster, serviceName="api", taskDefinition=first, desiredCount=1
    )["service"]
    sd1 = created["currentServiceDeployment"]
    env.wait_steady("api", 1)
    env.wait_status(sd1, "SUCCESSFUL")
    big = env.register(memory=4096)
    # A service's first deployment has nothing to roll back to: refused, nothing written.
    lone = env.ecs.create_service(
        cluster=env.cluster, serviceName="lone", taskDefinition=big, desiredCount=1
    )["service"]["currentServiceDeployment"]
    with pytest.raises(env.ecs.exceptions.ConflictException, match="roll back"):
        env.ecs.stop_service_deployment(serviceDeploymentArn=lone)
    assert env.describe(lone)["status"] == "IN_PROGRESS"
    assert env.service("lone")["taskDefinition"] == big

    sd2 = env.ecs.update_service(cluster=env.cluster, service="api", taskDefinition=big)["service"][
        "currentServiceDeployment"
    ]
    answer = env.ecs.stop_service_deployment(serviceDeploymentArn=sd2, stopType="ABORT")
    assert answer["serviceDeploymentArn"] == sd2
    aborted = env.describe(sd2)
    assert aborted["status"] == "STOPPED"
    assert "stoppedAt" in aborted
    primary = next(d for d in env.service("api")["deployments"] if d["status"] == "PRIMARY")
    assert primary["rolloutState"] == "FAILED"
    # A newer deployment supersedes an ongoing one: STOPPED.
    env.ecs.update_service(cluster=env.cluster, service="api", taskDefinition=first)
    sd3 = env.service("api")["currentServiceDeployment"]
    env.wait_status(sd3, "SUCCESSFUL")

    third = env.register(memory=4096)
    sd4 = env.ecs.update_service(cluster=env.cluster, service="api", taskDefinition=third)[
        "service"
    ]["currentServiceDeployment"]
    env.ecs.update_service(cluster=env.cluster, service="api", forceNewDeployment=True)
    superseded = env.describe(sd4)
    assert superseded["status"] == "STOPPED"
    assert "newer service deployment" in superseded["statusReason"]

    errors = env.ecs.exceptions
    with pytest.raises(errors.ServiceNotFoundException):
        env.ecs.list_service_deployments(cluster=env.cluster, service="ghost")
    with pytest.raises(errors.ClusterNotFoundException):
        env.ecs.list_service_deployments(cluster="ghost", service="api")
    with pytest.raises(errors.InvalidParameterException):
        env.ecs.list_service_deployments(cluster=env.cluster, service="api", maxResults=101)
    with pytest.raises(errors.InvalidParameterException):
        env.ecs.list_service_deployments(cluster=env.cluster, service="api", nextToken="!!")
    with pytest.raises(errors.InvalidParameterException):
        env.ecs.describe_service_deployments(serviceDeploymentArns=[sd1] * 21)
    with pytest.raises(errors.InvalidParameterException):
        env.ecs.describe_service_revisions(serviceRevisionArns=[])
    with pytest.raises(errors.ServiceDeploymentNotFoundException):
        env.ecs.stop_service_deployment(serviceDeploymentArn="arn:aws:ecs:us-east-1:0:x/y")
    with pytest.raises(errors.ConflictException):
        env.ecs.stop_service_deployment(serviceDeploymentArn=sd1)
    assert env.describe(sd1)["status"] == "SUCCESSFUL"

    # Deleting a service stops its ongoing deployment.
    env.ecs.delete_service(cluster=env.cluster, service="lone", force=True)
    deleted = env.describe(lone)
    assert deleted["status"] == "STOPPED"
    assert "being deleted" in deleted["statusReason"]


def _tasks(env: Env) -> list[dict[str, Any]]:
    arns = env.ecs.list_tasks(cluster=env.cluster, serviceName="web")["taskArns"]
    return list(env.ecs.describe_tasks(cluster=env.cluster, tasks=arns)["tasks"]) if arns else []


def test_circuit_breaker_rollback_on_docker(tmp_path: Path, docker_images: dict[str, str]) -> None:
    """Real Docker: a revision whose image does not exist trips the circuit breaker; its
    service deployment goes ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    cluster = f"hist-{uuid.uuid4().hex[:6]}"
    agent = AgentProcess(
        server.endpoint,
        tmp_path / "agent",
        "127.0.7.2",
        cluster=cluster,
        extra_args=["--stop-timeout", "2s", "--cleanup-wait", "5s"],
    )
    try:
        ecs = server.client()
        ecs.create_cluster(clusterName=cluster)
        agent.start()
        env = Env(server, ecs, cluster, [agent])
        good = env.register()
        env.ecs.create_service(
            cluster=cluster,
            serviceName="web",
            taskDefinition=good,
            desiredCount=2,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        )
        env.wait_steady("web", 2)
        first = env.service("web")["currentServiceDeployment"]
        env.wait_status(first, "SUCCESSFUL")
        bad = env.ecs.register_task_definition(
            family="web",
            containerDefinitions=[
                {"name": "web", "image": "dockyard-test/no-such-image:1", "memory": 64}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        sd = env.ecs.update_service(cluster=cluster, service="web", taskDefinition=bad)["service"][
            "currentServiceDeployment"
        ]
        done = env.wait_status(sd, "ROLLBACK_SUCCESSFUL", timeout=150)
        assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
        assert done["deploymentCircuitBreaker"]["failureCount"] >= 3
        assert (
            done["rollback"]["serviceRevisionArn"]
            == env.describe(first)["targetServiceRevision"]["arn"]
        )
        assert "circuit breaker" in done["rollback"]["reason"]
        assert env.service("web")["taskDefinition"] == good
    finally:
        agent.stop()
        server.stop()
        remove_task_containers(cluster)
