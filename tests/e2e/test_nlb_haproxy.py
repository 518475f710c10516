"""A TCP service behind a network load balancer, on real Docker and a real HAProxy.

An ECS service of two busybox `nc` echo tasks (each answers `tcp <hostname>` and then
echoes what it gets) is registered in a TCP target group through its `loadBalancers`
entry. The network load balancer, the target group and its TCP listener are made with
the aws CLI; a certificate is imported with `aws acm import-certificate` and a TLS
listener (boto3) terminates TLS with it and forwards plain TCP. Clients are plain and
TLS sockets on loopback; a target on a closed port shows L4CON as ELB's
Target.FailedHealthChecks. Every wait and loop is bounded; everything is cleaned up.
"""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.testing.images import BUSYBOX_IMAGE
from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_json,
    pick_port,
    remove_task_containers,
    stop_haproxy,
    wait_for,
)
from tests.e2e.test_acm_https import import_with_cli

pytestmark = pytest.mark.e2e

PORT = 9000  # the container's port
ECHO = 'echo "tcp $HOSTNAME"; exec cat'
NAME = "nlb.example.test"


def exchange(port: int, payload: bytes, wrap: Callable[[socket.socket], Any] | None = None) -> str:
    """Connect to 127.0.0.1:port (TLS if `wrap`), send `payload`, read until it comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        sock = wrap(raw) if wrap is not None else raw
        try:
            sock.sendall(payload)
            data = b""
            for _ in range(50):  # bounded: the answer is two short lines
                if payload in data:
                    break
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace")
        finally:
            sock.close()


def test_tcp_service_through_tcp_and_tls_listeners(
    tmp_path: Path, docker_images: dict[str, str]
) -> None:
    assert BUSYBOX_IMAGE in docker_images
    cluster = f"nlb-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server")
    agent: AgentProcess | None = None
    try:
        server.start()
        ecs, elbv2 = server.client("ecs"), server.client("elbv2")
        ecs.create_cluster(clusterName=cluster)
        agent = AgentProcess(
            server.endpoint, tmp_path / "agent1", "127.0.1.1", cluster=cluster,
            extra_args=["--stop-timeout", "2s", "--cleanup-wait", "5s"],
        )  # fmt: skip
        agent.start()
        task_definition = ecs.register_task_definition(
            family="echo",
            networkMode="bridge",
            containerDefinitions=[
                {
                    "name": "echo",
                    "image": BUSYBOX_IMAGE,
                    "memory": 32,
                    "essential": True,
                    "command": ["nc", "-ll", "-p", str(PORT), "-e", "sh", "-c", ECHO],
                    "portMappings": [{"containerPort": PORT, "hostPort": 0, "protocol": "tcp"}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]

        # The aws CLI: a network load balancer, a TCP target group and a TCP listener.
        lb = aws_json(
            server.endpoint, "elbv2", "create-load-balancer", "--name", "echo",
            "--type", "network", "--scheme", "internal",
        )["LoadBalancers"][0]  # fmt: skip
        assert lb["Type"] == "network" and ":loadbalancer/net/echo/" in lb["LoadBalancerArn"]
        group = aws_json(
            server.endpoint, "elbv2", "create-target-group", "--name", "echo", "--protocol", "TCP",
            "--port", str(PORT), "--target-type", "instance", "--health-check-protocol", "TCP",
            "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
            "--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
        )["TargetGroups"][0]  # fmt: skip
        tg = group["TargetGroupArn"]
        assert (group["Protocol"], group["HealthCheckProtocol"]) == ("TCP", "TCP")
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
        )
        tcp_port, tls_port = pick_port(), pick_port()
        listener = aws_json(
            server.endpoint, "elbv2", "create-listener",
            "--load-balancer-arn", lb["LoadBalancerArn"],
            "--protocol", "TCP", "--port", str(tcp_port),
            "--default-actions", f"Type=forward,TargetGroupArn={tg}",
        )["Listeners"][0]  # fmt: skip
        assert listener["Protocol"] == "TCP"

        # A self-signed certificate imported with the aws CLI; a TLS listener (boto3) on it.
        cert_arn, ca_file = import_with_cli(server, tmp_path, NAME)
        tls = elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TLS", Port=tls_port,
            Certificates=[{"CertificateArn": cert_arn}],
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )["Listeners"][0]  # fmt: skip
        assert (tls["Protocol"], tls["SslPolicy"]) == ("TLS", "ELBSecurityPolicy-TLS13-1-2-2021-06")

        # The ECS service registers its tasks in the TCP target group.
        ecs.create_service(
            cluster=cluster, serviceName="echo", taskDefinition=task_definition, desiredCount=2,
            launchType="EC2",
            loadBalancers=[{"targetGroupArn": tg, "containerName": "echo", "containerPort": PORT}],
        )  # fmt: skip

        def states() -> list[str]:
            described = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            return sorted(d["TargetHealth"]["State"] for d in described)

        wait_for(lambda: states() == ["healthy", "healthy"], timeout=120, interval=0.5,
                 what="both tasks healthy in the TCP target group")  # fmt: skip
        config = (server.data_dir / "haproxy" / "haproxy.cfg").read_text()
        assert f"bind 127.0.0.1:{tcp_port}\n" in config and "    mode tcp" in config

        # Plain TCP through the TCP listener: each connection to one task, both used.
        seen = set()
        for index in range(8):
            payload = f"ping {index}\n".encode()
            answer = exchange(tcp_port, payload)
            first, _, rest = answer.partition("\n")
            assert first.startswith("tcp ") and rest == payload.decode(), answer
            seen.add(first)
        assert len(seen) == 2, seen  # round robin over the two tasks

        # TLS through the TLS listener: verified against the imported certificate.
        context = ssl.create_default_context(cafile=str(ca_file))
        versions = []

        def wrap(raw: socket.socket) -> ssl.SSLSocket:
            wrapped = context.wrap_socket(raw, server_hostname=NAME)
            versions.append(wrapped.version())
            return wrapped

        for index in range(4):
            payload = f"secret {index}\n".encode()
            answer = exchange(tls_port, payload, wrap)
            first, _, rest = answer.partition("\n")
            assert first in seen and rest == payload.decode(), answer
        assert set(versions) <= {"TLSv1.2", "TLSv1.3"} and versions
        untrusted = ssl.create_default_context()  # the system's CAs do not know ours
        with pytest.raises(ssl.SSLCertVerificationError):
            exchange(tls_port, b"x\n", lambda raw: untrusted.wrap_socket(raw, server_hostname=NAME))

        # A target on a closed port: HAProxy's L4CON -> ELB's Target.FailedHealthChecks.
        instance_id = ecs.describe_container_instances(
            cluster=cluster, containerInstances=[agent.instance_arn]
        )["containerInstances"][0]["ec2InstanceId"]
        closed = pick_port("127.0.1.1")
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance_id, "Port": closed}])

        def closed_health() -> dict[str, Any] | None:
            described = elbv2.describe_target_health(
                TargetGroupArn=tg, Targets=[{"Id": instance_id, "Port": closed}]
            )["TargetHealthDescriptions"][0]["TargetHealth"]
            return described if described["State"] == "unhealthy" else None

        health = wait_for(closed_health, timeout=90, interval=0.5, what="closed port unhealthy")
        assert health["Reason"] == "Target.FailedHealthChecks", health
        assert exchange(tcp_port, b"still\n").endswith("still\n")  # never sent to it
        elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": instance_id, "Port": closed}])
    finally:
        if agent is not None:
            agent.stop()
        server.stop()
        stop_haproxy(server.data_dir)
        remove_task_containers(cluster)
