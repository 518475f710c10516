"""Trust stores and mutual TLS: bundle/CRL validation, the API through botocore's own
serializer and parser (errors, nothing written when refused), and the HAProxy lines
(`haproxy -c` accepts verify and passthrough configs with the real files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from botocore.parsers import create_parser
from botocore.serialize import QuerySerializer

from dockyard.api.elbv2 import ELBV2
from dockyard.api.models import service_model
from dockyard.api.query_protocol import respond
from dockyard.context import ApiContext
from dockyard.elbv2.errors import ElbError
from dockyard.elbv2.trust_stores import parse_ca_bundle, parse_crl
from dockyard.lb.model import Action, LbModel, Listener, MutualTls, Tls
from dockyard.lb.mtls import bind_options, header_rules, parse_mutual_tls
from dockyard.lb.render import RenderSettings, frontends, left_out, render_haproxy
from dockyard.lb.state import lb_states
from dockyard.lb.tls_files import wanted
from dockyard.lb.tls_writer import TlsWriter
from dockyard.store import Kind, open_store
from dockyard.store.sql import SqlStore, sqlite_url
from dockyard.testing.certs import make_certificate
from dockyard.testing.pki import Ca

MODEL = service_model("elbv2")
CERT_ARN = "arn:aws:acm:us-east-1:000000000000:certificate/abc"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.fixture(scope="module")
def ca() -> Ca:
    return Ca.create()


# --- validation (pure) ---------------------------------------------------------------------


def test_bundle_counts_ca_certificates(ca: Ca) -> None:
    other = Ca.create("Other CA")
    bundle = parse_ca_bundle(ca.certificate + other.certificate)
    assert bundle.count == 2 and bundle.pem.count("BEGIN CERTIFICATE") == 2


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello", id="not-pem"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", id="bad"),
        pytest.param(Ca.create("leaf", ca=False).certificate, id="not-a-ca"),
    ],
)
def test_bundle_refusals(data: bytes) -> None:
    with pytest.raises(ElbError) as caught:
        parse_ca_bundle(data)
    assert caught.value.code == "InvalidCaCertificatesBundle"


def test_crl_must_be_signed_by_a_bundle_ca(ca: Ca) -> None:
    client = ca.issue("c1")
    crl = parse_crl(ca.crl([client]), ca.certificate.decode())
    assert crl.entries == 1 and crl.pem.startswith("-----BEGIN X509 CRL-----")
    assert parse_crl(ca.crl([], der=True), ca.certificate.decode()).entries == 0
    for data in (Ca.create("Dockyard Test CA").crl([]), b"garbage"):  # same name, other key
        with pytest.raises(ElbError) as caught:
            parse_crl(data, ca.certificate.decode())
        assert caught.value.code == "InvalidRevocationContent"


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(sqlite_url(tmp_path))
    yield opened
    opened.close()


class Api:
    """ELBv2 requests through `respond`, serialized and parsed by botocore."""

    def __init__(self, store: SqlStore, certs: Path) -> None:
        self.ctx = ApiContext(store=store, certs_dir=certs)

    def _send(self, name: str, params: dict[str, Any]) -> tuple[int, bytes]:
        operation = MODEL.operation_model(name)
        body = urlencode(QuerySerializer().serialize_to_request(params, operation)["body"])
        services = {ELBV2.version: ELBV2}
        response = respond(services, self.ctx, body.encode(), "rid", lambda: None)
        assert isinstance(response.body, bytes)
        return response.status, response.body

    def __call__(self, name: str, **params: Any) -> dict[str, Any]:
        status, body = self._send(name, params)
        assert status == 200, body
        shape = MODEL.operation_model(name).output_shape
        parsed = create_parser("query").parse(
            {"body": body, "headers": {}, "status_code": 200}, shape
        )
        parsed.pop("ResponseMetadata", None)
        return dict(parsed)

    def error(self, name: str, **params: Any) -> str:
        status, body = self._send(name, params)
        assert status == 400, body
        parsed = create_parser("query").parse(
            {"body": body, "headers": {}, "status_code": 400}, None
        )
        return str(parsed["Error"]["Code"])


@pytest.fixture
def api(store: SqlStore, tmp_path: Path) -> Api:
    return Api(store, tmp_path / "certs")


def _inline(pem: bytes) -> dict[str, str]:
    return {"CaCertificatesBundleS3Bucket": "inline", "CaCertificatesBundleS3Key": pem.decode()}


def _https_listener(api: Api, **mutual: Any) -> dict[str, Any]:
    lb = api("CreateLoadBalancer", Name="web")["LoadBalancers"][0]["LoadBalancerArn"]
    with api.ctx.store.transaction() as tx:
        tx.insert(Kind.CERTIFICATE, CERT_ARN, {"CertificateArn": CERT_ARN}, domain_name="x")
    params: dict[str, Any] = {
        "LoadBalancerArn": lb,
        "Protocol": "HTTPS",
        "Port": 20443,
        "Certificates": [{"CertificateArn": CERT_ARN}],
        "DefaultActions": [
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
        ],
    }
    if mutual:
        params["MutualAuthentication"] = mutual
    return api("CreateListener", **params)["Listeners"][0]


def test_trust_store_lifecycle(api: Api, ca: Ca, tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(ca.certificate)
    created = api(
        "CreateTrustStore",
        Name="clients",
        CaCertificatesBundleS3Bucket="file",
        CaCertificatesBundleS3Key=str(path),
        Tags=[{"Key": "team", "Value": "edge"}],
    )["TrustStores"][0]
    arn = created["TrustStoreArn"]
    assert ":truststore/clients/" in arn
    assert created == {
        "Name": "clients",
        "TrustStoreArn": arn,
        "Status": "ACTIVE",
        "NumberOfCaCertificates": 1,
        "TotalRevokedEntries": 0,
    }
    assert api("DescribeTrustStores", Names=["clients"])["TrustStores"] == [created]
    assert api("DescribeTrustStores", TrustStoreArns=[arn])["TrustStores"] == [created]
    tags = api("DescribeTags", ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    assert tags == [{"Key": "team", "Value": "edge"}]
    location = api("GetTrustStoreCaCertificatesBundle", TrustStoreArn=arn)["Location"]
    bundle_file = Path(urlparse(location).path)
    assert bundle_file.read_bytes().strip() == ca.certificate.strip()
    assert bundle_file.stat().st_mode & 0o777 == 0o644

    two = ca.certificate + Ca.create("Second CA").certificate
    modified = api("ModifyTrustStore", TrustStoreArn=arn, **_inline(two))["TrustStores"][0]
    assert modified["NumberOfCaCertificates"] == 2
    assert not bundle_file.exists()  # the old bundle is pruned once the new one committed

    revoked = api(
        "AddTrustStoreRevocations",
        TrustStoreArn=arn,
        RevocationContents=[
            {"S3Bucket": "inline", "S3Key": ca.crl([ca.issue("a"), ca.issue("b")]).decode()}
        ],
    )["TrustStoreRevocations"]
    assert revoked == [
        {
            "TrustStoreArn": arn,
            "RevocationId": 1,
            "RevocationType": "CRL",
            "NumberOfRevokedEntries": 2,
        }
    ]
    assert api("DescribeTrustStores")["TrustStores"][0]["TotalRevokedEntries"] == 2
    assert api("DescribeTrustStoreRevocations", TrustStoreArn=arn)["TrustStoreRevocations"] == (
        revoked
    )
    content = api("GetTrustStoreRevocationContent", TrustStoreArn=arn, RevocationId=1)
    assert "BEGIN X509 CRL" in Path(urlparse(content["Location"]).path).read_text()
    assert api.error("RemoveTrustStoreRevocations", TrustStoreArn=arn, RevocationIds=[7]) == (
        "RevocationIdNotFound"
    )
    api("RemoveTrustStoreRevocations", TrustStoreArn=arn, RevocationIds=[1])
    assert api("DescribeTrustStores")["TrustStores"][0]["TotalRevokedEntries"] == 0
    api("DeleteTrustStore", TrustStoreArn=arn)
    assert api.error("DescribeTrustStores", TrustStoreArns=[arn]) == "TrustStoreNotFound"
    assert list((tmp_path / "certs" / "truststores").iterdir()) == []


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _rows(api: Api) -> list[dict[str, Any]]:
    with api.ctx.store.read() as tx:
        return tx.find(Kind.TRUST_STORE)


def test_refusals_write_nothing(api: Api, ca: Ca, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    leaf = Ca.create("leaf", ca=False).certificate
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("CreateTrustStore", {"Name": "x", **_inline(leaf)}, "InvalidCaCertificatesBundle"),
        ("CreateTrustStore", {"Name": "x", **_inline(b"nope")}, "InvalidCaCertificatesBundle"),
        (
            "CreateTrustStore",
            {
                "Name": "x",
                "CaCertificatesBundleS3Bucket": "my-bucket",
                "CaCertificatesBundleS3Key": "k",
            },
            "CaCertificatesBundleNotFound",
        ),
        (
            "CreateTrustStore",
            {
                "Name": "x",
                "CaCertificatesBundleS3Bucket": "file",
                "CaCertificatesBundleS3Key": str(tmp_path / "missing.pem"),
            },
            "CaCertificatesBundleNotFound",
        ),
        ("CreateTrustStore", {"Name": "-bad-", **_inline(ca.certificate)}, "ValidationError"),
    ]
    for name, params, code in cases:
        assert api.error(name, **params) == code, params
    assert _rows(api) == [] and _files(certs) == []

    arn = api("CreateTrustStore", Name="ok", **_inline(ca.certificate))["TrustStores"][0][
        "TrustStoreArn"
    ]
    before = (_rows(api), _files(certs))
    other = Ca.create("Other CA")
    later: list[tuple[str, dict[str, Any], str]] = [
        ("CreateTrustStore", {"Name": "ok", **_inline(ca.certificate)}, "DuplicateTrustStoreName"),
        (
            "ModifyTrustStore",
            {"TrustStoreArn": arn, **_inline(b"x")},
            "InvalidCaCertificatesBundle",
        ),
        (
            "AddTrustStoreRevocations",
            {
                "TrustStoreArn": arn,
                "RevocationContents": [{"S3Bucket": "inline", "S3Key": other.crl([]).decode()}],
            },
            "InvalidRevocationContent",
        ),
        (
            "AddTrustStoreRevocations",
            {"TrustStoreArn": arn, "RevocationContents": [{"S3Bucket": "s3", "S3Key": "k"}]},
            "RevocationContentNotFound",
        ),
        (
            "DescribeTrustStoreRevocations",
            {"TrustStoreArn": arn, "RevocationIds": [3]},
            "RevocationIdNotFound",
        ),
        ("DeleteTrustStore", {"TrustStoreArn": arn.replace("/ok/", "/no/")}, "TrustStoreNotFound"),
        ("DescribeTrustStores", {"Names": ["nope"]}, "TrustStoreNotFound"),
        (
            "DeleteSharedTrustStoreAssociation",
            {"TrustStoreArn": arn, "ResourceArn": arn.replace("truststore", "loadbalancer/app")},
            "DeleteAssociationSameAccount",
        ),
        (
            "DeleteSharedTrustStoreAssociation",
            {"TrustStoreArn": arn, "ResourceArn": "arn:aws:elasticloadbalancing:us-east-1:1:x"},
            "AssociationNotFound",
        ),
    ]
    for name, params, code in later:
        assert api.error(name, **params) == code, (name, params)
    assert (_rows(api), _files(certs)) == before


def test_too_many_trust_stores(api: Api, ca: Ca) -> None:
    for index in range(20):
        api("CreateTrustStore", Name=f"s{index}", **_inline(ca.certificate))
    assert api.error("CreateTrustStore", Name="s20", **_inline(ca.certificate)) == (
        "TooManyTrustStores"
    )


def test_listener_mutual_authentication(api: Api, ca: Ca) -> None:
    arn = api("CreateTrustStore", Name="clients", **_inline(ca.certificate))["TrustStores"][0][
        "TrustStoreArn"
    ]
    listener = _https_listener(api, Mode="verify", TrustStoreArn=arn)
    assert listener["MutualAuthentication"] == {
        "Mode": "verify",
        "TrustStoreArn": arn,
        "IgnoreClientCertificateExpiry": False,
        "TrustStoreAssociationStatus": "active",
        "AdvertiseTrustStoreCaNames": "off",
    }
    described = api("DescribeListeners", ListenerArns=[listener["ListenerArn"]])["Listeners"][0]
    assert described["MutualAuthentication"] == listener["MutualAuthentication"]
    assert api.error("DeleteTrustStore", TrustStoreArn=arn) == "TrustStoreInUse"
    associations = api("DescribeTrustStoreAssociations", TrustStoreArn=arn)
    assert associations["TrustStoreAssociations"] == [{"ResourceArn": listener["LoadBalancerArn"]}]

    lsn = listener["ListenerArn"]
    assert api.error(
        "ModifyListener", ListenerArn=lsn, MutualAuthentication={"Mode": "verify"}
    ) == ("ValidationError")
    missing = arn.replace("/clients/", "/gone/")
    assert (
        api.error(
            "ModifyListener",
            ListenerArn=lsn,
            MutualAuthentication={"Mode": "verify", "TrustStoreArn": missing},
        )
        == "TrustStoreNotFound"
    )
    assert api.error(
        "ModifyListener", ListenerArn=lsn, MutualAuthentication={"Mode": "strict"}
    ) == ("ValidationError")
    assert (
        api.error(
            "ModifyListener",
            ListenerArn=lsn,
            MutualAuthentication={"Mode": "passthrough", "TrustStoreArn": arn},
        )
        == "ValidationError"
    )
    changed = api("ModifyListener", ListenerArn=lsn, MutualAuthentication={"Mode": "passthrough"})
    assert changed["Listeners"][0]["MutualAuthentication"] == {"Mode": "passthrough"}
    api("DeleteTrustStore", TrustStoreArn=arn)  # no longer in use


def test_mutual_authentication_needs_https(api: Api) -> None:
    lb = api("CreateLoadBalancer", Name="plain")["LoadBalancers"][0]["LoadBalancerArn"]
    code = api.error(
        "CreateListener",
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=20080,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
        MutualAuthentication={"Mode": "passthrough"},
    )
    assert code == "ValidationError"
    with api.ctx.store.read() as tx:
        assert tx.find(Kind.LISTENER) == []


# --- HAProxy lines -------------------------------------------------------------------------


def test_bind_options() -> None:
    certs, default = Path("/c"), Path("/c/default.pem")
    store = "arn:aws:elasticloadbalancing:us-east-1:0:truststore/t/abc"
    plain = MutualTls("verify", store, "1" * 64)
    assert bind_options(plain, certs, default) == (
        "verify required ca-file /c/truststores/abc/ca-1111111111111111.pem no-ca-names"
    )
    full = MutualTls(
        "verify", store, "1" * 64, "2" * 64, ignore_expiry=True, advertise_ca_names=True
    )
    assert bind_options(full, certs, default) == (
        "verify required ca-file /c/truststores/abc/ca-1111111111111111.pem"
        " crl-file /c/truststores/abc/crl-2222222222222222.pem ca-ignore-err 3"
        " crt-ignore-err 3,10"
    )
    assert bind_options(MutualTls("passthrough"), certs, default) == (
        "verify optional ca-file /c/default.pem crt-ignore-err all ca-ignore-err all no-ca-names"
    )
    assert header_rules(None) == []
    assert [r.split()[2] for r in header_rules(MutualTls("passthrough"))] == [
        "^x-amzn-mtls-clientcert",
        "X-Amzn-Mtls-Clientcert",
    ]


@pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy is not installed")
def test_haproxy_accepts_mutual_tls_configs(api: Api, ca: Ca, tmp_path: Path) -> None:
    """The rendered lines with the files the LB writes from the store: `haproxy -c` says
    valid."""
    arn = api("CreateTrustStore", Name="clients", **_inline(ca.certificate))["TrustStores"][0][
        "TrustStoreArn"
    ]
    crl = ca.crl([ca.issue("gone")]).decode()
    api(
        "AddTrustStoreRevocations",
        TrustStoreArn=arn,
        RevocationContents=[{"S3Bucket": "inline", "S3Key": crl}],
    )
    with api.ctx.store.read() as tx:
        doc = tx.find(Kind.TRUST_STORE)[0]
    certs = tmp_path / "lb" / "certs"
    certs.mkdir(parents=True)
    cert, key = make_certificate("localhost")
    (certs / "abc-f.pem").write_bytes(cert)
    (certs / "abc-f.pem.key").write_bytes(key)
    tls = Tls("ELBSecurityPolicy-2016-08", ((CERT_ARN, "f"),))
    fixed = Action("fixed-response", status=200)
    verify = MutualTls("verify", arn, doc["_BundleSha256"], doc["_CrlSha256"], True)
    listeners = (
        Listener("arn:l1", "web", 20443, fixed, tls=tls, protocol="HTTPS", mtls=verify),
        Listener(
            "arn:l2", "web", 20444, fixed, tls=tls, protocol="HTTPS", mtls=MutualTls("passthrough")
        ),
    )
    settings = RenderSettings(
        admin_socket=tmp_path / "admin.sock", state_file=tmp_path / "state", certs_dir=certs
    )
    (tmp_path / "state").write_text("1\n")
    model = LbModel(("web",), listeners)
    with api.ctx.store.read() as tx:
        assert TlsWriter(certs).write_missing(tx, wanted(model, certs)) == []
    names = sorted(str(p.relative_to(certs)) for p in certs.rglob("*.pem"))
    store_id = arn.rsplit("/", 1)[-1]
    assert names == [
        "abc-f.pem",
        f"truststores/{store_id}/ca-{doc['_BundleSha256'][:16]}.pem",
        f"truststores/{store_id}/crl-{doc['_CrlSha256'][:16]}.pem",
    ]
    config = render_haproxy(model, settings)
    assert "verify required" in config and "verify optional" in config
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    result = subprocess.run(
        [HAPROXY, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr + config


def test_verify_listener_whose_trust_store_is_gone_is_not_served(tmp_path: Path) -> None:
    """DeleteTrustStore refuses while a listener uses it, but a store can still vanish
    (a restored database, a crash between commits): the listener is left out, its port
    unbound, and its load balancer's State says why; other listeners are served."""
    gone = "arn:aws:elasticloadbalancing:us-east-1:000000000000:truststore/gone/0123456789abcdef"
    doc = {"Protocol": "HTTPS", "MutualAuthentication": {"Mode": "verify", "TrustStoreArn": gone}}
    verify = parse_mutual_tls(doc, {})
    assert verify is not None and verify.bundle_sha256 is None
    tls = Tls("ELBSecurityPolicy-2016-08", ((CERT_ARN, "f"),))
    fixed = Action("fixed-response", status=200)
    model = LbModel(
        ("web",),
        (
            Listener("arn:l1", "web", 20443, fixed, tls=tls, protocol="HTTPS", mtls=verify),
            Listener("arn:l2", "web", 20444, fixed, tls=tls, protocol="HTTPS"),
        ),
    )
    config = render_haproxy(model, RenderSettings(certs_dir=tmp_path))
    binds = [line.strip() for line in config.splitlines() if line.strip().startswith("bind ")]
    assert any(":20444 " in line for line in binds)
    assert not any(":20443" in line for line in binds), binds
    assert left_out(config) == {"arn:l1": f"trust store {gone} not found"}
    served = frontends(config)
    assert lb_states(model, served, None, left_out(config))["web"] == {
        "Code": "failed",
        "Reason": f"Listener on port 20443: trust store {gone} not found",
    }
