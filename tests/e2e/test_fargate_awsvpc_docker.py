"""A Fargate-style task definition (awsvpc, FARGATE, task-level cpu/memory) runs unchanged
on Dockyard: real Docker, real HAProxy, boto3.

One server and one Docker agent (`--awsvpc-pool`, a /28 inside 127.0.2.0/24). RunTask
with launchType FARGATE gets the task its own pool address: DescribeTasks shows the ENI
attachment (privateIPv4Address) and the container answers on <address>:10080, the
container port unchanged; the container's cgroup memory limit is the task-level memory.
Then a FARGATE service behind an `ip` target group: its targets are <address>:10080 and
traffic through the listener is served. All traffic stays on loopback; every wait is
bounded; containers, agent, server and HAProxy are cleaned up even when a test fails.
"""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_json,
    remove_task_containers,
    stop_haproxy,
    wait_for,
)
from tests.e2e.test_lb_services_docker import pick_port, request

pytestmark = pytest.mark.e2e

PORT = 10080
FARGATE_DEFINITION: dict[str, Any] = {  # as a team's Fargate JSON has it
    "family": "auth-fargate",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {
            "name": "auth",
            "image": "dockyard-demo/auth:1",
            "essential": True,
            "portMappings": [{"containerPort": PORT, "protocol": "tcp"}],
            "stopTimeout": 2,
        }
    ],
}
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0abc1234"], "assignPublicIp": "DISABLED"}}


class Fargate:
    def __init__(self, tmp_path: Path, server: ServerProcess) -> None:
        self.server = server
        self.cluster = f"fg-{uuid.uuid4().hex[:8]}"
        self.pool = ipaddress.ip_network(f"127.0.2.{16 * random.randint(1, 14)}/28")
        self.ecs = server.client("ecs")
        self.elbv2 = server.client("elbv2")
        self.agent = AgentProcess(
            server.endpoint,
            tmp_path / "agent",
            "127.0.1.1",
            cluster=self.cluster,
            extra_args=[
                *("--stop-timeout", "2s", "--cleanup-wait", "5s"),
                *("--awsvpc-pool", str(self.pool)),
            ],
        )

    def task(self, arn: str) -> dict[str, Any]:
        return dict(self.ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"][0])


@pytest.fixture
def fargate(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Fargate]:
    assert "dockyard-demo/auth:1" in docker_images
    server = ServerProcess(tmp_path / "server")
    built: Fargate | None = None
    try:
        server.start()
        built = Fargate(tmp_path, server)
        built.ecs.create_cluster(clusterName=built.cluster)
        built.agent.start()
        yield built
    finally:
        if built is not None:
            built.agent.stop()
        server.stop()
        stop_haproxy(server.data_dir)
        if built is not None:
            remove_task_containers(built.cluster)


def eni_address(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments", []):
        if attachment["type"] == "ElasticNetworkInterface" and attachment["status"] == "ATTACHED":
            details = {d["name"]: d["value"] for d in attachment["details"]}
            return str(details["privateIPv4Address"])
    return None


def test_run_task_fargate_gets_its_own_address(fargate: Fargate) -> None:
    definition = fargate.ecs.register_task_definition(**FARGATE_DEFINITION)["taskDefinition"]
    assert "FARGATE" in definition["compatibilities"]
    run = fargate.ecs.run_task(
        cluster=fargate.cluster,
        taskDefinition="auth-fargate",
        launchType="FARGATE",
        networkConfiguration=NETWORK,
    )
    assert not run["failures"], run["failures"]
    arn = run["tasks"][0]["taskArn"]
    assert run["tasks"][0]["launchType"] == "FARGATE"
    assert run["tasks"][0]["attachments"][0]["status"] == "PRECREATED"
    task = wait_for(
        lambda: (t := fargate.task(arn))["lastStatus"] == "RUNNING" and eni_address(t) and t,
        timeout=60,
        interval=0.3,
        what="the awsvpc task RUNNING with its address",
    )
    address = eni_address(task)
    assert address is not None and ipaddress.ip_address(address) in fargate.pool
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == "subnet-0abc1234"
    assert details["networkInterfaceId"].startswith("eni-") and details["macAddress"]
    container = task["containers"][0]
    assert container["networkInterfaces"][0]["privateIpv4Address"] == address
    assert container["networkBindings"] == []  # awsvpc: no host-port mapping
    assert (task["cpu"], task["memory"]) == ("256", "512")

    answer = wait_for(
        lambda: (o := request(address, PORT, "/")).status == 200 and o,
        timeout=30,
        interval=0.3,
        what=f"the container answering on {address}:{PORT}",
    )
    assert answer.status == 200
    client = docker.from_env()
    try:
        found = client.containers.list(filters={"label": f"com.dockyard.task-arn={arn}"})
        names = {c.labels["com.dockyard.container-name"]: c for c in found}
        assert set(names) == {"auth", "~internal~ecs~pause"}  # + the network owner
        found = [names["auth"]]
        host_config = found[0].attrs["HostConfig"]
        assert host_config["Memory"] == 512 * 1024 * 1024  # task-level memory enforced
        assert host_config["CpuShares"] == 256
        assert host_config["NanoCpus"] == 256 * 10**9 // 1024  # task cpu: a hard ceiling
        assert found[0].labels["com.dockyard.awsvpc-address"] == address
    finally:
        client.close()

    fargate.ecs.stop_task(cluster=fargate.cluster, task=arn)
    stopped = wait_for(
        lambda: (t := fargate.task(arn))["lastStatus"] == "STOPPED" and t,
        timeout=60,
        interval=0.3,
        what="the task STOPPED",
    )
    assert stopped["attachments"][0]["status"] == "DELETED"
    _run_task_with_the_aws_cli(fargate)


def _run_task_with_the_aws_cli(fargate: Fargate) -> None:
    """The same RunTask through the aws CLI (v1): the answer parsed by botocore, the task
    given a pool address (the first task's address was given back when it stopped)."""
    ran = aws_json(
        fargate.server.endpoint, "ecs", "run-task", "--cluster", fargate.cluster,
        "--task-definition", "auth-fargate", "--launch-type", "FARGATE",
        "--network-configuration", json.dumps(NETWORK),
    )  # fmt: skip
    assert ran["failures"] == [] and ran["tasks"][0]["launchType"] == "FARGATE"
    arn = ran["tasks"][0]["taskArn"]
    task = wait_for(
        lambda: (t := fargate.task(arn))["lastStatus"] == "RUNNING" and eni_address(t) and t,
        timeout=60,
        interval=0.3,
        what="the CLI's awsvpc task RUNNING with its address",
    )
    address = eni_address(task)
    assert address is not None and ipaddress.ip_address(address) in fargate.pool
    fargate.ecs.stop_task(cluster=fargate.cluster, task=arn)


def test_fargate_service_behind_an_ip_target_group(fargate: Fargate) -> None:
    fargate.ecs.register_task_definition(**FARGATE_DEFINITION)
    name = f"fg-{uuid.uuid4().hex[:6]}"
    tg_arn = fargate.elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=PORT,
        TargetType="ip",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    balancer = fargate.elbv2.create_load_balancer(Name=name, Type="application")
    lb = balancer["LoadBalancers"][0]
    lb_host = lb["DNSName"]
    lb_port = pick_port(lb_host)
    fargate.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=lb_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    fargate.ecs.create_service(
        cluster=fargate.cluster,
        serviceName="auth",
        taskDefinition="auth-fargate",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "auth", "containerPort": PORT}],
    )
    service = fargate.ecs.describe_services(cluster=fargate.cluster, services=["auth"])
    assert service["services"][0]["launchType"] == "FARGATE"
    assert service["services"][0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [
        "subnet-0abc1234"
    ]

    def healthy() -> set[tuple[str, int]] | None:
        described = fargate.elbv2.describe_target_health(TargetGroupArn=tg_arn)
        health = described["TargetHealthDescriptions"]
        if len(health) != 2 or any(d["TargetHealth"]["State"] != "healthy" for d in health):
            return None
        return {(d["Target"]["Id"], int(d["Target"]["Port"])) for d in health}

    targets = wait_for(healthy, timeout=90, interval=0.5, what="two healthy ip targets")
    arns = fargate.ecs.list_tasks(cluster=fargate.cluster, serviceName="auth")["taskArns"]
    tasks = fargate.ecs.describe_tasks(cluster=fargate.cluster, tasks=arns)["tasks"]
    assert targets == {(eni_address(t), PORT) for t in tasks}
    assert all(ipaddress.ip_address(i) in fargate.pool for i, _ in targets)

    answers = [request(lb_host, lb_port, "/") for _ in range(10)]
    assert [a.status for a in answers] == [200] * 10, [a.body[:80] for a in answers]
