"""Certificates any leader can serve (issue 13, H13c): two `dockyard server`s on one
throwaway PostgreSQL share `--lb-dir`. A certificate imported through the FOLLOWER (its key
goes into the store, no file anywhere) is served by the leader's HAProxy over HTTPS; then
the leader is killed (-9) and the certificate files are removed from the LB directory: the
other server leads, writes them again from the store, HTTPS still answers with the same
certificate, and a new HTTPS listener (a new HAProxy worker, which must load the files)
serves it too. Private keys appear in no log and no follower data dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dockyard.testing.certs import make_certificate
from dockyard.testing.postgres import PostgresCluster, throwaway_postgres
from tests.e2e.conftest import ServerProcess, haproxy_binary, stop_haproxy, wait_for
from tests.e2e.test_ha_failover import leader_of
from tests.e2e.test_lb_haproxy import ThreadedBackend, pick_port

pytestmark = pytest.mark.e2e

TTL = "2"  # --lease-ttl: seconds
NAME = "app.example.test"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """The parent of the shared `--lb-dir` (`<shared>/haproxy`); its HAProxy ended after
    (a stopping server leaves HAProxy running for the next leader)."""
    haproxy_binary()
    path = tmp_path / "shared"
    try:
        yield path
    finally:
        stop_haproxy(path)


@pytest.fixture
def servers(
    postgres: PostgresCluster, tmp_path: Path, shared: Path
) -> Iterator[list[ServerProcess]]:
    url = postgres.create_database("hatls")
    procs = [
        ServerProcess(tmp_path / f"data{i}", extra_args=[
            "--store-url", url, "--lease-ttl", TTL, "--name", f"s{i}",
            "--lb-dir", str(shared / "haproxy")])
        for i in range(2)
    ]  # fmt: skip
    try:
        for proc in procs:
            proc.start(timeout=60)
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def served_certificate(port: int, ca_pem: bytes) -> tuple[bytes, str]:
    """(DER of the certificate HAProxy presents for NAME, the body of GET /), verified
    against the imported certificate."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    request = f"GET / HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        tls.sendall(request)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der, b"".join(chunks).decode(errors="replace").split("\r\n\r\n", 1)[-1]


def answers(port: int, ca_pem: bytes, der: bytes) -> bool:
    try:
        got, body = served_certificate(port, ca_pem)
    except OSError:
        return False
    return got == der and body == "backend"


def https_listener(elbv2: Any, lb_arn: str, port: int, cert_arn: str, group: str) -> None:
    elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=port,
        Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )  # fmt: skip


def test_certificate_imported_on_a_follower_survives_a_leader_kill(
    servers: list[ServerProcess], shared: Path
) -> None:
    by_name = {f"s{i}": proc for i, proc in enumerate(servers)}
    leader = str(wait_for(lambda: leader_of(servers[0].endpoint), timeout=60, what="a leader"))
    follower = next(p for name, p in by_name.items() if name != leader)
    cert, key = make_certificate(NAME)
    der = x509.load_pem_x509_certificate(cert).public_bytes(Encoding.DER)
    backend = ThreadedBackend("backend", "127.0.0.2")
    try:
        acm, elbv2 = follower.client("acm"), follower.client("elbv2")
        cert_arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
        group = elbv2.create_target_group(
            Name="web", Protocol="HTTP", Port=80, TargetType="ip", HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        lb_arn = elbv2.create_load_balancer(Name="front", Subnets=["subnet-a", "subnet-b"])[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        port, second_port = pick_port("127.0.0.1"), pick_port("127.0.0.1")
        https_listener(elbv2, lb_arn, port, cert_arn, group)
        elbv2.register_targets(
            TargetGroupArn=group, Targets=[{"Id": backend.host, "Port": backend.port}]
        )
        wait_for(lambda: answers(port, cert, der), timeout=60, what="HTTPS through the leader")

        certs = shared / "haproxy" / "certs"
        assert stat.S_IMODE(certs.stat().st_mode) == 0o700
        written = sorted(p.name for p in certs.iterdir())
        assert len(written) == 2 and written[1] == written[0] + ".key", written
        assert all(stat.S_IMODE((certs / n).stat().st_mode) == 0o600 for n in written)
        for proc in servers:  # no server keeps a key file in its data dir
            assert not list(proc.data_dir.rglob("*.key"))

        # kill -9 the leader, and take the files away: the next leader writes them again.
        by_name[leader].kill9()
        shutil.rmtree(certs)
        new_leader = wait_for(lambda: leader_of(follower.endpoint) not in (None, leader)
                              and leader_of(follower.endpoint), timeout=60, what="a new leader")  # fmt: skip
        assert by_name[str(new_leader)] is follower
        wait_for(lambda: sorted(p.name for p in certs.iterdir()) == written if certs.is_dir()
                 else False, timeout=60, what="files written again from the store")  # fmt: skip
        wait_for(lambda: answers(port, cert, der), timeout=60, what="HTTPS after the takeover")
        # A new listener: a new HAProxy worker loads the files the new leader wrote.
        https_listener(elbv2, lb_arn, second_port, cert_arn, group)
        wait_for(lambda: answers(second_port, cert, der), timeout=60, what="a new listener")
        assert answers(port, cert, der)

        def state() -> Any:
            described = elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])
            return described["LoadBalancers"][0]["State"]

        wait_for(lambda: state() == {"Code": "active"}, timeout=30, what="State active")
        for proc in servers:
            log = proc.log_path.read_text() if proc.log_path else ""
            assert "PRIVATE KEY" not in log
    finally:
        backend.close()
        for proc in servers:
            if proc.proc is not None and proc.proc.poll() is None:
                os.kill(proc.proc.pid, signal.SIGTERM)
