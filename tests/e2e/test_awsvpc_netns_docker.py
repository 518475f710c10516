"""An awsvpc task's containers share one network namespace, and task-level cpu is a hard
ceiling: real Docker, the aws CLI, boto3.

A FARGATE task of two containers, as teams write them: `app` (busybox httpd on 8080) and a
`sidecar` that fetches http://127.0.0.1:8080/ every second into a file it serves on 9090.
The sidecar's page holding the app's page proves it reached the app over localhost. Docker
shows the agent's network owner (`~internal~ecs~pause`, publishing both ports on the task
address) and each container in `container:<owner>` mode with NanoCpus from the task cpu.
An agent killed with -9 and restarted re-adopts the task untouched (same ids, same start
times); a task whose owner vanished while the agent was down gets a new owner and its
containers rejoin it. Stopping the task removes the owner at once. As a service behind an
`ip` target group on the sidecar's port, the load balancer serves the app's page through
the sidecar. Loopback only; every wait bounded; containers, agent, server and HAProxy are
removed even when a test fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import (
    ServerProcess,
    aws_json,
    pick_port,
    remove_task_containers,
    stop_haproxy,
    wait_for,
)
from tests.e2e.lb_stack import request
from tests.e2e.test_fargate_awsvpc_docker import NETWORK, Fargate, eni_address

pytestmark = pytest.mark.e2e

OWNER = "~internal~ecs~pause"
SIDECAR_SCRIPT = (
    "trap 'exit 0' TERM; mkdir -p /www; "
    "(while :; do wget -q -O /www/new http://127.0.0.1:8080/ && mv /www/new /www/index.html;"
    " sleep 1; done) & httpd -f -p 9090 -h /www & wait"
)
DEFINITION: dict[str, Any] = {
    "family": "netns-fargate",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "dockyard-demo/web:1",
            "essential": True,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "stopTimeout": 2,
        },
        {
            "name": "sidecar",
            "image": "dockyard-test/busybox:1",
            "essential": True,
            "command": ["sh", "-c", SIDECAR_SCRIPT],
            "portMappings": [{"containerPort": 9090, "protocol": "tcp"}],
            "stopTimeout": 2,
        },
    ],
}
APP_PAGE = "Dockyard demo web server"  # examples/images/web/www/index.html


@pytest.fixture
def netns(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Fargate]:
    assert {"dockyard-demo/web:1", "dockyard-test/busybox:1"} <= set(docker_images)
    server = ServerProcess(tmp_path / "server")
    built: Fargate | None = None
    try:
        server.start()
        built = Fargate(tmp_path, server)
        built.ecs.create_cluster(clusterName=built.cluster)
        built.ecs.register_task_definition(**DEFINITION)
        built.agent.start()
        yield built
    finally:
        if built is not None:
            built.agent.stop()
        server.stop()
        stop_haproxy(server.data_dir)
        if built is not None:
            remove_task_containers(built.cluster)


def containers_of(arn: str) -> dict[str, Any]:
    """The task's containers on the engine (any status), by their container-name label;
    listed again when one is removed between the list and its inspect (the agent cleans up)."""
    client = docker.from_env()
    try:
        for _attempt in range(5):
            try:
                found = client.containers.list(
                    all=True, filters={"label": f"com.dockyard.task-arn={arn}"}
                )
            except docker.errors.NotFound:
                continue
            return {c.labels["com.dockyard.container-name"]: c.attrs for c in found}
        raise AssertionError(f"containers of {arn} kept vanishing while listed")
    finally:
        client.close()


def run_with_the_cli(fargate: Fargate) -> tuple[str, str]:
    """`aws ecs run-task`; (task ARN, address) once RUNNING with its address."""
    ran = aws_json(
        fargate.server.endpoint, "ecs", "run-task", "--cluster", fargate.cluster,
        "--task-definition", "netns-fargate", "--launch-type", "FARGATE",
        "--network-configuration", json.dumps(NETWORK),
    )  # fmt: skip
    assert ran["failures"] == [], ran["failures"]
    arn = ran["tasks"][0]["taskArn"]
    task = wait_for(
        lambda: (t := fargate.task(arn))["lastStatus"] == "RUNNING" and eni_address(t) and t,
        timeout=90,
        interval=0.3,
        what="the two-container awsvpc task RUNNING with its address",
    )
    address = eni_address(task)
    assert address is not None
    assert sorted(c["name"] for c in task["containers"]) == ["app", "sidecar"]  # no owner
    return arn, address


def sidecar_serves_the_app(address: str) -> None:
    """The sidecar's page on 9090 is the app's page, fetched on the shared localhost."""
    wait_for(
        lambda: (o := request(address, 9090, "/")).status == 200 and APP_PAGE in o.body,
        timeout=60,
        interval=0.5,
        what=f"the sidecar on {address}:9090 serving the app's page it fetched on localhost",
    )


def test_containers_share_localhost_and_the_task_cpu_is_a_ceiling(netns: Fargate) -> None:
    arn, address = run_with_the_cli(netns)
    app = wait_for(
        lambda: (o := request(address, 8080, "/")).status == 200 and o,
        timeout=30,
        interval=0.3,
        what=f"the app on {address}:8080",
    )
    assert APP_PAGE in app.body
    sidecar_serves_the_app(address)

    found = containers_of(arn)
    assert set(found) == {"app", "sidecar", OWNER}
    owner = found[OWNER]
    assert owner["HostConfig"]["NetworkMode"] in ("bridge", "default")
    assert owner["HostConfig"]["PortBindings"] == {
        "8080/tcp": [{"HostIp": address, "HostPort": "8080"}],
        "9090/tcp": [{"HostIp": address, "HostPort": "9090"}],
    }
    assert owner["Config"]["Labels"]["com.dockyard.awsvpc-address"] == address
    for name in ("app", "sidecar"):
        host_config = found[name]["HostConfig"]
        assert host_config["NetworkMode"] == f"container:{owner['Id']}"
        assert host_config["NanoCpus"] == 256 * 10**9 // 1024  # task cpu 256: 0.25 CPU each
        assert host_config["CpuShares"] == 128  # and half of it as relative weight
        assert not host_config.get("PortBindings")

    # The metadata endpoint answers in the shared namespace, with the task address.
    client = docker.from_env()
    try:
        sidecar = client.containers.get(found["sidecar"]["Id"])
        code, output = sidecar.exec_run(
            ["sh", "-c", 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4"']
        )
    finally:
        client.close()
    assert code == 0, output
    assert json.loads(output)["Networks"] == [{"NetworkMode": "awsvpc", "IPv4Addresses": [address]}]

    # kill -9 and restart: the agent adopts the task as it is (same ids, not restarted).
    before = {name: (c["Id"], c["State"]["StartedAt"]) for name, c in found.items()}
    netns.agent.kill9()
    netns.agent.start()
    wait_for(
        lambda: f"adopted {arn}" in netns.agent.log(),
        timeout=60,
        interval=0.3,
        what="the restarted agent adopting the task",
    )
    after = containers_of(arn)
    assert {n: (c["Id"], c["State"]["StartedAt"]) for n, c in after.items()} == before
    assert all(c["State"]["Status"] == "running" for c in after.values())
    assert netns.task(arn)["lastStatus"] == "RUNNING"
    sidecar_serves_the_app(address)

    # Stopping the task removes the network owner with it; the containers go at cleanup.
    netns.ecs.stop_task(cluster=netns.cluster, task=arn)
    wait_for(
        lambda: netns.task(arn)["lastStatus"] == "STOPPED",
        timeout=60,
        interval=0.3,
        what="the task STOPPED",
    )
    assert OWNER not in containers_of(arn)
    wait_for(
        lambda: containers_of(arn) == {},
        timeout=60,
        interval=0.5,
        what="the task's containers removed after the cleanup wait",
    )


def test_a_vanished_owner_is_recreated_when_the_agent_adopts_the_task(netns: Fargate) -> None:
    arn, address = run_with_the_cli(netns)
    sidecar_serves_the_app(address)
    before = containers_of(arn)
    netns.agent.kill9()
    client = docker.from_env()
    try:
        client.containers.get(before[OWNER]["Id"]).remove(force=True)  # while the agent is down
    finally:
        client.close()
    assert request(address, 9090, "/").status == 0  # the task's address answers no more

    netns.agent.start()

    def rejoined() -> dict[str, Any] | None:
        found = containers_of(arn)
        owner = found.get(OWNER)
        if owner is None or set(found) != {"app", "sidecar", OWNER}:
            return None
        modes = {found[n]["HostConfig"]["NetworkMode"] for n in ("app", "sidecar")}
        running = all(c["State"]["Status"] == "running" for c in found.values())
        return found if running and modes == {f"container:{owner['Id']}"} else None

    found = wait_for(rejoined, timeout=90, interval=0.5, what="a new owner, containers rejoined")
    assert found[OWNER]["Id"] != before[OWNER]["Id"]
    sidecar_serves_the_app(address)
    task = netns.task(arn)
    assert task["lastStatus"] == "RUNNING" and eni_address(task) == address
    ids = {c["name"]: c.get("runtimeId") for c in task["containers"]}
    assert ids == {"app": found["app"]["Id"], "sidecar": found["sidecar"]["Id"]}
    netns.ecs.stop_task(cluster=netns.cluster, task=arn)


def test_a_sidecar_service_behind_an_ip_target_group(netns: Fargate) -> None:
    name = f"ns-{netns.cluster[-6:]}"
    tg_arn = netns.elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=9090,
        TargetType="ip",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    lb = netns.elbv2.create_load_balancer(Name=name, Type="application")["LoadBalancers"][0]
    lb_host, lb_port = lb["DNSName"], pick_port(lb["DNSName"])
    netns.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=lb_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    netns.ecs.create_service(
        cluster=netns.cluster,
        serviceName="netns",
        taskDefinition="netns-fargate",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        loadBalancers=[
            {"targetGroupArn": tg_arn, "containerName": "sidecar", "containerPort": 9090}
        ],
    )

    def healthy() -> list[Any] | None:
        health = netns.elbv2.describe_target_health(TargetGroupArn=tg_arn)
        found = health["TargetHealthDescriptions"]
        ok = len(found) == 1 and found[0]["TargetHealth"]["State"] == "healthy"
        return found if ok else None

    [target] = wait_for(healthy, timeout=120, interval=0.5, what="the sidecar target healthy")
    [arn] = netns.ecs.list_tasks(cluster=netns.cluster, serviceName="netns")["taskArns"]
    assert (target["Target"]["Id"], target["Target"]["Port"]) == (
        eni_address(netns.task(arn)),
        9090,
    )
    answers = [request(lb_host, lb_port, "/") for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5, [a.body[:80] for a in answers]
    assert all(APP_PAGE in a.body for a in answers)  # the app's page, via the sidecar
