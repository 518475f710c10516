"""HTTPS through the load balancer: certificates imported with the real aws CLI (ACM),
an HTTPS listener terminated by the real HAProxy, curl with --cacert reaching a plain
HTTP backend, a second certificate picked by SNI, HTTP -> HTTPS redirect, and the
certificate rules (in use: not deletable; key file 0600; GetCertificate has no key).
Everything on loopback; each wait is bounded."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dockyard.testing.certs import make_certificate
from tests.e2e.conftest import ServerProcess, aws_cli, wait_for
from tests.e2e.test_lb_haproxy import HAPROXY, ThreadedBackend, pick_port

pytestmark = pytest.mark.e2e
CURL = shutil.which("curl")


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "5", *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def import_with_cli(server: ServerProcess, directory: Path, *names: str) -> tuple[str, Path]:
    """`aws acm import-certificate --certificate fileb://... --private-key fileb://...`."""
    cert, key = make_certificate(*names)
    cert_file, key_file = directory / f"{names[0]}.crt", directory / f"{names[0]}.key"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    result = aws_cli(
        server.endpoint,
        "acm",
        "import-certificate",
        "--certificate",
        f"fileb://{cert_file}",
        "--private-key",
        f"fileb://{key_file}",
        "--tags",
        "Key=site,Value=" + names[0],
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["CertificateArn"], cert_file


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_https_listener_with_sni_and_redirect(server: ServerProcess, tmp_path: Path) -> None:
    assert Path(HAPROXY).exists()
    backend = ThreadedBackend("backend", "127.0.0.2")
    try:
        acm, elbv2 = server.client("acm"), server.client("elbv2")
        app_arn, app_ca = import_with_cli(server, tmp_path, "app.example.test")
        api_arn, api_ca = import_with_cli(server, tmp_path, "api.example.test")

        described = acm.describe_certificate(CertificateArn=app_arn)["Certificate"]
        assert described["Type"] == "IMPORTED" and described["Status"] == "ISSUED"
        assert described["DomainName"] == "app.example.test"
        assert described["KeyAlgorithm"] == "RSA_2048" and described["InUseBy"] == []
        got = acm.get_certificate(CertificateArn=app_arn)
        assert got["Certificate"].strip() == app_ca.read_text().strip()
        assert "PRIVATE KEY" not in json.dumps(got) + json.dumps(described, default=str)
        listed = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
        assert sorted(c["CertificateArn"] for c in listed) == sorted([app_arn, api_arn])
        assert acm.list_tags_for_certificate(CertificateArn=app_arn)["Tags"] == [
            {"Key": "site", "Value": "app.example.test"}
        ]

        assert not (server.data_dir / "certs").exists()  # keys are in the store, not files
        log = (server.log_path or Path("/dev/null")).read_text()
        assert "PRIVATE KEY" not in log

        group = elbv2.create_target_group(
            Name="web", Protocol="HTTP", Port=80, TargetType="ip", HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        lb = elbv2.create_load_balancer(Name="front", Subnets=["subnet-a", "subnet-b"])
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        https_port, http_port = pick_port("127.0.0.1"), pick_port("127.0.0.1")
        https = elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTPS",
            Port=https_port,
            Certificates=[{"CertificateArn": app_arn}],
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )["Listeners"][0]
        assert https["Protocol"] == "HTTPS" and https["Certificates"] == [
            {"CertificateArn": app_arn}
        ]
        elbv2.add_listener_certificates(
            ListenerArn=https["ListenerArn"], Certificates=[{"CertificateArn": api_arn}]
        )
        listed_certs = elbv2.describe_listener_certificates(ListenerArn=https["ListenerArn"])
        assert [(c["CertificateArn"], c["IsDefault"]) for c in listed_certs["Certificates"]] == [
            (app_arn, True),
            (api_arn, False),
        ]
        elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=http_port,
            DefaultActions=[
                {
                    "Type": "redirect",
                    "RedirectConfig": {
                        "Protocol": "HTTPS",
                        "Port": str(https_port),
                        "StatusCode": "HTTP_301",
                    },
                }
            ],
        )
        elbv2.register_targets(
            TargetGroupArn=group, Targets=[{"Id": backend.host, "Port": backend.port}]
        )

        def healthy() -> bool:
            health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            return [h["TargetHealth"]["State"] for h in health] == ["healthy"]

        wait_for(healthy, timeout=30, what="target healthy")
        # The LB controller wrote the files the config names from the store (lb/tls_writer).
        certs = server.data_dir / "haproxy" / "certs"
        assert stat.S_IMODE(certs.stat().st_mode) == 0o700
        keys = sorted(certs.glob("*.key"))
        assert len(keys) == 2 and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)

        app = f"app.example.test:{https_port}:127.0.0.1"
        answer = curl(
            "--cacert", str(app_ca), "--resolve", app, f"https://app.example.test:{https_port}/"
        )
        assert answer.returncode == 0 and answer.stdout == "backend", answer.stderr
        api = f"api.example.test:{https_port}:127.0.0.1"
        answer = curl(
            "--cacert", str(api_ca), "--resolve", api, f"https://api.example.test:{https_port}/x"
        )
        assert answer.returncode == 0 and answer.stdout == "backend", answer.stderr  # SNI
        wrong = curl(
            "--cacert", str(app_ca), "--resolve", api, f"https://api.example.test:{https_port}/"
        )
        assert wrong.returncode != 0  # the api name is served with the api certificate only
        tls12 = curl("--tlsv1.1", "--tls-max", "1.1", "-k", f"https://127.0.0.1:{https_port}/")
        assert tls12.returncode != 0  # the policy's minimum is TLS 1.2

        redirected = curl(
            "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
            "-H", f"Host: app.example.test:{http_port}",
            f"http://127.0.0.1:{http_port}/path/to?q=1",
        )  # fmt: skip
        assert redirected.stdout == f"301 https://app.example.test:{https_port}/path/to?q=1"
        followed = curl(
            "-L", "--cacert", str(app_ca), "--resolve", app,
            "--resolve", f"app.example.test:{http_port}:127.0.0.1",
            f"http://app.example.test:{http_port}/",
        )  # fmt: skip
        assert followed.stdout == "backend", followed.stderr

        # A re-import of a certificate in use reaches HAProxy (reload) without API calls on ELB.
        new_cert, new_key = make_certificate("app.example.test")
        acm.import_certificate(CertificateArn=app_arn, Certificate=new_cert, PrivateKey=new_key)
        new_ca = tmp_path / "new-app.crt"
        new_ca.write_bytes(new_cert)
        url = f"https://app.example.test:{https_port}/"
        wait_for(
            lambda: curl("--cacert", str(new_ca), "--resolve", app, url).stdout == "backend",
            timeout=10,
            what="re-imported certificate served",
        )

        in_use = acm.describe_certificate(CertificateArn=api_arn)["Certificate"]["InUseBy"]
        assert in_use == [https["ListenerArn"]]
        for arn in (app_arn, api_arn):
            with pytest.raises(ClientError) as refused:
                acm.delete_certificate(CertificateArn=arn)
            assert refused.value.response["Error"]["Code"] == "ResourceInUseException"

        elbv2.remove_listener_certificates(
            ListenerArn=https["ListenerArn"], Certificates=[{"CertificateArn": api_arn}]
        )
        acm.delete_certificate(CertificateArn=api_arn)
        wait_for(lambda: len(list(certs.glob("*.key"))) == 1, timeout=30, what="files pruned")
        assert "PRIVATE KEY" not in (server.log_path or Path("/dev/null")).read_text()
        with pytest.raises(ClientError) as missing:
            acm.describe_certificate(CertificateArn=api_arn)
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        backend.close()


def test_acm_and_listener_errors(server: ServerProcess, tmp_path: Path) -> None:
    acm, elbv2 = server.client("acm"), server.client("elbv2")
    cert, key = make_certificate("one.example.test")
    _, other_key = make_certificate("two.example.test")

    def code(call: Any, **params: Any) -> str:
        with pytest.raises(ClientError) as caught:
            call(**params)
        return str(caught.value.response["Error"]["Code"])

    assert (
        code(acm.import_certificate, Certificate=cert, PrivateKey=other_key)
        == "ValidationException"
    )
    assert (
        code(acm.import_certificate, Certificate=b"junk", PrivateKey=key) == "ValidationException"
    )
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    new_cert, new_key = make_certificate("one.example.test", "alt.example.test")
    assert (
        acm.import_certificate(CertificateArn=arn, Certificate=new_cert, PrivateKey=new_key)[
            "CertificateArn"
        ]
        == arn
    )  # re-import replaces
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["SubjectAlternativeNames"] == ["one.example.test", "alt.example.test"]
    assert (
        code(acm.describe_certificate, CertificateArn="arn:aws:s3:::bucket/object")
        == "InvalidArnException"
    )
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "1"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "2"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == []
    page = acm.list_certificates(MaxItems=1)
    assert len(page["CertificateSummaryList"]) == 1 and "NextToken" not in page

    lb_arn = elbv2.create_load_balancer(Name="e", Subnets=["subnet-a", "subnet-b"])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    base = {
        "LoadBalancerArn": lb_arn,
        "Protocol": "HTTPS",
        "Port": pick_port("127.0.0.1"),
        "DefaultActions": fixed,
    }
    assert code(elbv2.create_listener, **base) == "ValidationError"
    missing = arn[:-4] + "0000"
    assert (
        code(elbv2.create_listener, **base, Certificates=[{"CertificateArn": missing}])
        == "CertificateNotFound"
    )
    assert (
        code(
            elbv2.create_listener, **base, Certificates=[{"CertificateArn": arn}], SslPolicy="Nope"
        )
        == "SSLPolicyNotFound"
    )
    listener = elbv2.create_listener(**base, Certificates=[{"CertificateArn": arn}])["Listeners"][0]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    assert (
        code(
            elbv2.remove_listener_certificates,
            ListenerArn=listener["ListenerArn"],
            Certificates=[{"CertificateArn": arn}],
        )
        == "OperationNotPermitted"
    )
    policies = elbv2.describe_ssl_policies(Names=["ELBSecurityPolicy-TLS13-1-3-2021-06"])[
        "SslPolicies"
    ]
    assert policies[0]["SslProtocols"] == ["TLSv1.3"]
    assert len(elbv2.describe_ssl_policies()["SslPolicies"]) >= 4
    assert code(elbv2.describe_ssl_policies, Names=["Nope"]) == "SSLPolicyNotFound"
    modified = elbv2.modify_listener(ListenerArn=listener["ListenerArn"], Protocol="HTTP")[
        "Listeners"
    ][0]
    assert "Certificates" not in modified and "SslPolicy" not in modified
    acm.delete_certificate(CertificateArn=arn)  # no longer in use
