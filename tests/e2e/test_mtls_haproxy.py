"""Mutual TLS through the load balancer: a trust store made with the real aws CLI from a
CA bundle file, an HTTPS listener in verify mode terminated by the real HAProxy (curl
without a certificate is refused, with one signed by the bundle's CA it reaches the
target, with a foreign one it is refused), a CRL added with the CLI revokes a client,
passthrough forwards the client certificate in X-Amzn-Mtls-Clientcert, and a trust store
in use cannot be deleted (TrustStoreInUse). Everything on loopback; each wait is bounded."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from dockyard.testing.certs import make_certificate
from dockyard.testing.pki import Ca, Client
from tests.e2e.conftest import ServerProcess, aws_json, haproxy_binary, pick_port, wait_for

pytestmark = pytest.mark.e2e
CURL = shutil.which("curl")
HOST = "mtls.example.test"


class EchoBackend:
    """A target answering with the X-Amzn-Mtls-* headers it received, as JSON."""

    def __init__(self, host: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen = {
                    k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-mtls")
                }
                body = b"ok" if self.path == "/health" else json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return None

        self.host, self.port = host, pick_port(host)
        self.httpd = http.server.ThreadingHTTPServer((host, self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Curl:
    """curl to a listener of HOST on loopback, trusting the listener's certificate."""

    def __init__(self, server_ca: Path, directory: Path) -> None:
        self.server_ca, self.directory = server_ca, directory

    def __call__(self, port: int, client: Client | None = None) -> subprocess.CompletedProcess[str]:
        assert CURL is not None
        args = ["--cacert", str(self.server_ca), "--resolve", f"{HOST}:{port}:127.0.0.1"]
        if client is not None:
            cert, key = (
                self.directory / f"{client.serial}.crt",
                self.directory / f"{client.serial}.key",
            )
            cert.write_bytes(client.certificate)
            key.write_bytes(client.key)
            args += ["--cert", str(cert), "--key", str(key)]
        return subprocess.run(
            [CURL, "-sS", "--max-time", "5", *args, f"https://{HOST}:{port}/"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )

    def headers(self, port: int, client: Client | None = None) -> dict[str, str]:
        answer = self(port, client)
        assert answer.returncode == 0, answer.stderr
        seen: dict[str, str] = json.loads(answer.stdout)
        return {k.lower(): v for k, v in seen.items()}


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_mutual_tls_verify_revocation_and_passthrough(
    server: ServerProcess, tmp_path: Path
) -> None:
    haproxy_binary()  # skips (or fails where CI requires HAProxy) without one
    backend = EchoBackend("127.0.0.2")
    try:
        ca, rogue_ca = Ca.create("Clients CA"), Ca.create("Rogue CA")
        good, revoked, rogue = ca.issue("good"), ca.issue("revoked"), rogue_ca.issue("rogue")
        bundle = tmp_path / "clients-ca.pem"
        bundle.write_bytes(ca.certificate)

        # The trust store, from a file on the server's machine (ELB: an S3 object).
        created = aws_json(
            server.endpoint, "elbv2", "create-trust-store", "--name", "clients",
            "--ca-certificates-bundle-s3-bucket", "file",
            "--ca-certificates-bundle-s3-key", str(bundle),
        )["TrustStores"][0]  # fmt: skip
        store_arn = created["TrustStoreArn"]
        assert created["Status"] == "ACTIVE" and created["NumberOfCaCertificates"] == 1

        elbv2, acm = server.client("elbv2"), server.client("acm")
        server_cert, server_key = make_certificate(HOST)
        server_ca = tmp_path / "server.crt"
        server_ca.write_bytes(server_cert)
        cert_arn = acm.import_certificate(Certificate=server_cert, PrivateKey=server_key)[
            "CertificateArn"
        ]
        group = elbv2.create_target_group(
            Name="web", Protocol="HTTP", Port=80, TargetType="ip", HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        lb_arn = elbv2.create_load_balancer(Name="front")["LoadBalancers"][0]["LoadBalancerArn"]
        verify_port, passthrough_port = pick_port("127.0.0.1"), pick_port("127.0.0.1")
        common: dict[str, Any] = {
            "LoadBalancerArn": lb_arn,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": cert_arn}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": group}],
        }
        verify = elbv2.create_listener(
            Port=verify_port,
            MutualAuthentication={"Mode": "verify", "TrustStoreArn": store_arn},
            **common,
        )["Listeners"][0]
        assert verify["MutualAuthentication"]["Mode"] == "verify"
        elbv2.create_listener(
            Port=passthrough_port, MutualAuthentication={"Mode": "passthrough"}, **common
        )
        elbv2.register_targets(
            TargetGroupArn=group, Targets=[{"Id": backend.host, "Port": backend.port}]
        )

        def healthy() -> bool:
            health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            return [h["TargetHealth"]["State"] for h in health] == ["healthy"]

        wait_for(healthy, timeout=30, what="target healthy")
        curl = Curl(server_ca, tmp_path)

        # verify: no certificate -> refused; the bundle's CA's client -> the target, with
        # ELB's headers; a certificate from another CA -> refused.
        assert curl(verify_port).returncode != 0
        seen = curl.headers(verify_port, good)
        assert seen["x-amzn-mtls-clientcert-subject"] == "CN=good"
        assert seen["x-amzn-mtls-clientcert-issuer"] == "CN=Clients CA"
        assert int(seen["x-amzn-mtls-clientcert-serial-number"], 16) == good.serial
        assert seen["x-amzn-mtls-clientcert-validity"].startswith("NotBefore=20")
        leaf = x509.load_pem_x509_certificate(unquote(seen["x-amzn-mtls-clientcert-leaf"]).encode())
        assert leaf == x509.load_pem_x509_certificate(good.certificate)
        assert curl(verify_port, rogue).returncode != 0
        assert curl.headers(verify_port, revoked)["x-amzn-mtls-clientcert-subject"] == "CN=revoked"

        # A CRL revoking one client, added with the CLI from a file: that client is refused.
        crl = tmp_path / "clients.crl"
        crl.write_bytes(ca.crl([revoked]))
        added = aws_json(
            server.endpoint, "elbv2", "add-trust-store-revocations", "--trust-store-arn", store_arn,
            "--revocation-contents", f"S3Bucket=file,S3Key={crl},RevocationType=CRL",
        )["TrustStoreRevocations"]  # fmt: skip
        assert [(r["RevocationId"], r["NumberOfRevokedEntries"]) for r in added] == [(1, 1)]
        wait_for(
            lambda: curl(verify_port, revoked).returncode != 0,
            timeout=15,
            what="revoked client refused",
        )
        assert curl.headers(verify_port, good)["x-amzn-mtls-clientcert-subject"] == "CN=good"
        described = aws_json(
            server.endpoint, "elbv2", "describe-trust-stores", "--names", "clients"
        )["TrustStores"][0]
        assert described["TotalRevokedEntries"] == 1

        # passthrough: any certificate (or none) is accepted and forwarded as URL-encoded PEM.
        forwarded = curl.headers(passthrough_port, rogue)["x-amzn-mtls-clientcert"]
        assert forwarded.startswith("-----BEGIN%20CERTIFICATE-----%0A")
        got = x509.load_pem_x509_certificate(unquote(forwarded).encode())
        assert got == x509.load_pem_x509_certificate(rogue.certificate)
        assert curl.headers(passthrough_port) == {}  # no certificate, no header

        # In use: DeleteTrustStore refused; the association is the load balancer.
        with pytest.raises(ClientError) as in_use:
            elbv2.delete_trust_store(TrustStoreArn=store_arn)
        assert in_use.value.response["Error"]["Code"] == "TrustStoreInUse"
        associations = elbv2.describe_trust_store_associations(TrustStoreArn=store_arn)
        assert associations["TrustStoreAssociations"] == [{"ResourceArn": lb_arn}]
        location = elbv2.get_trust_store_ca_certificates_bundle(TrustStoreArn=store_arn)
        assert location["Location"].startswith("file://")

        # A new bundle (inline: the CLI reads file:// and sends the PEM) trusts the other CA.
        both = tmp_path / "both.pem"
        both.write_bytes(ca.certificate + rogue_ca.certificate)
        modified = aws_json(
            server.endpoint, "elbv2", "modify-trust-store", "--trust-store-arn", store_arn,
            "--ca-certificates-bundle-s3-bucket", "inline",
            "--ca-certificates-bundle-s3-key", f"file://{both}",
        )["TrustStores"][0]  # fmt: skip
        assert modified["NumberOfCaCertificates"] == 2
        wait_for(
            lambda: curl(verify_port, rogue).returncode == 0,
            timeout=15,
            what="client of the added CA accepted",
        )

        elbv2.modify_listener(
            ListenerArn=verify["ListenerArn"], MutualAuthentication={"Mode": "off"}
        )
        wait_for(  # mutual TLS off: no certificate needed once HAProxy has reloaded
            lambda: curl(verify_port).returncode == 0, timeout=15, what="mutual TLS off"
        )
        assert curl.headers(verify_port) == {}
        elbv2.delete_trust_store(TrustStoreArn=store_arn)
        assert elbv2.describe_trust_stores()["TrustStores"] == []
    finally:
        backend.close()
