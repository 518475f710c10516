"""ACM's pure parts: PEM/key validation (acm/pem.py), SSL policies mapped to HAProxy
(acm/policies.py), HTTPS rendering (lb/render.py) checked by `haproxy -c`, and key
files' names and modes (acm/files.py)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.acm import files
from dockyard.acm.pem import PemError, parse_import, status
from dockyard.acm.policies import DEFAULT_POLICY, POLICIES, policy
from dockyard.lb.model import Action, LbModel, Listener, Redirect, TargetGroup, Tls
from dockyard.lb.render import RenderSettings, render_haproxy
from dockyard.testing.certs import make_certificate

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
ARN = "arn:aws:acm:us-east-1:000000000000:certificate/11111111-2222"
ARN2 = "arn:aws:acm:us-east-1:000000000000:certificate/33333333-4444"


RSA_CERT, RSA_KEY = make_certificate("app.example.test", "www.example.test")
EC_CERT, EC_KEY = make_certificate("ec.example.test", key="ec")
OTHER_CERT, OTHER_KEY = make_certificate("other.example.test")


def test_rsa_certificate_is_read_as_acm_describes_it() -> None:
    parsed = parse_import(RSA_CERT, RSA_KEY)
    assert parsed.domain_name == "app.example.test"
    assert parsed.alternative_names == ("app.example.test", "www.example.test")
    assert parsed.key_algorithm == "RSA_2048"
    assert parsed.signature_algorithm == "SHA256WITHRSA"
    assert parsed.subject == parsed.issuer == "CN=app.example.test"
    assert parsed.not_before < parsed.not_after
    assert "PRIVATE KEY" in parsed.key_pem and "PRIVATE KEY" not in parsed.certificate_pem
    assert status(parsed.not_after, parsed.not_after - 1) == "ISSUED"
    assert status(parsed.not_after, parsed.not_after) == "EXPIRED"


def test_ec_certificate_and_chain() -> None:
    parsed = parse_import(EC_CERT, EC_KEY, OTHER_CERT + RSA_CERT)
    assert parsed.key_algorithm == "EC_prime256v1"
    assert parsed.signature_algorithm == "SHA256WITHECDSA"
    assert parsed.chain_pem.count("BEGIN CERTIFICATE") == 2


@pytest.mark.parametrize(
    ("certificate", "key", "chain", "message"),
    [
        pytest.param(RSA_CERT, OTHER_KEY, b"", "does not match", id="key-of-another-cert"),
        pytest.param(RSA_CERT, EC_KEY, b"", "does not match", id="ec-key-for-rsa-cert"),
        pytest.param(b"not a pem", RSA_KEY, b"", "exactly one", id="certificate-not-pem"),
        pytest.param(RSA_CERT + EC_CERT, RSA_KEY, b"", "exactly one", id="two-certificates"),
        pytest.param(
            RSA_CERT.replace(b"M", b"A", 5), RSA_KEY, b"", "Could not parse", id="corrupt-cert"
        ),
        pytest.param(RSA_CERT, b"garbage", b"", "private key", id="key-not-pem"),
        pytest.param(
            RSA_CERT, RSA_KEY, b"-----BEGIN CERTIFICATE-----\nxx", "chain", id="bad-chain"
        ),
        pytest.param(RSA_CERT, RSA_CERT, b"", "private key", id="certificate-as-key"),
    ],
)
def test_invalid_imports_are_refused(
    certificate: bytes, key: bytes, chain: bytes, message: str
) -> None:
    with pytest.raises(PemError, match=message):
        parse_import(certificate, key, chain)


def test_encrypted_and_unsupported_keys_are_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(PemError, match="encrypted"):
        parse_import(RSA_CERT, encrypted)
    cert, key = make_certificate("ed.example.test", key="ed25519")
    with pytest.raises(PemError, match="Ed25519"):
        parse_import(cert, key)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        (
            "ELBSecurityPolicy-2016-08",
            "ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:",
        ),
        ("ELBSecurityPolicy-TLS-1-2-2017-01", "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers "),
        (
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:",
        ),
        (
            "ELBSecurityPolicy-TLS13-1-3-2021-06",
            "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256:"
            "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        ),
    ],
)
def test_policies_map_to_haproxy_versions_and_ciphers(name: str, options: str) -> None:
    found = policy(name)
    assert found is not None
    assert found.haproxy_options().startswith(options)
    described = found.describe()
    assert described["Name"] == name
    assert described["SslProtocols"] == list(reversed(found.protocols))


def test_policy_table() -> None:
    assert policy(None) is POLICIES[DEFAULT_POLICY]
    assert policy("ELBSecurityPolicy-Nope") is None
    tls13 = POLICIES["ELBSecurityPolicy-TLS13-1-2-2021-06"]
    assert "ciphersuites TLS_AES_128_GCM_SHA256" in tls13.haproxy_options()
    assert "TLS_" not in POLICIES["ELBSecurityPolicy-2016-08"].haproxy_options()


def test_key_files_are_private_and_named_by_digest(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    first, second = files.material_digest("CERT\n", ""), files.material_digest("CERT2\n", "")
    files.write_certificate(certs, ARN, first, "CERT\n", "KEY\n")
    files.write_certificate(certs, ARN, second, "CERT2\n", "KEY2\n")  # a re-import: new names
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    for path in (files.pem_path(certs, ARN, second), files.key_path(certs, ARN, second)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files.key_path(certs, ARN, second).read_text() == "KEY2\n"
    assert files.pem_path(certs, ARN, first).read_text() == "CERT\n"
    assert sorted(p.name for p in certs.iterdir()) == sorted(
        f"11111111-2222-{digest[:16]}.pem{suffix}"
        for digest in (first, second)
        for suffix in ("", ".key")
    )
    assert first != files.material_digest("CERT\n", "CHAIN\n")  # a new chain is a new file


def https_model(policy_name: str = DEFAULT_POLICY, *certificates: str) -> LbModel:
    group = TargetGroup("arn:tg/a", "a", in_use=True)
    tls = Tls(policy_name, tuple((arn, f"fp-{arn[-4:]}") for arn in certificates or (ARN,)))
    https = Listener(
        "arn:listener/https", "web", 20443, Action("forward", groups=(("arn:tg/a", 1),)), tls=tls
    )
    redirect = Action("redirect", redirect=Redirect(protocol="HTTPS", port="20443", status=301))
    http = Listener("arn:listener/http", "web", 20080, redirect)
    return LbModel(("web",), (http, https), (group,), ())


def test_https_listener_renders_crts_policy_and_scheme(tmp_path: Path) -> None:
    settings = RenderSettings(certs_dir=tmp_path)
    config = render_haproxy(https_model("ELBSecurityPolicy-TLS13-1-2-2021-06", ARN, ARN2), settings)
    bind = next(line for line in config.splitlines() if "bind" in line and ":20443" in line)
    assert bind.startswith(
        f"    bind 127.0.0.1:20443 ssl crt {tmp_path}/11111111-2222-fp-2222.pem"
        f" crt {tmp_path}/33333333-4444-fp-4444.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3"
    )
    assert f"# certificate {ARN} sha256 fp-2222" in config  # a re-import changes the config
    assert "http-request set-header X-Forwarded-Proto https" in config
    assert "http-request set-header X-Forwarded-Proto http\n" in config
    assert 'location "https://%[req.hdr(host),field(1,:)]:20443/%[path,bytes(1)]' in config


def test_https_listener_without_certificate_is_not_served(tmp_path: Path) -> None:
    lb = https_model()
    listener = lb.listeners[1]
    bare = Listener(
        listener.arn, "web", 20443, listener.default_action, tls=Tls(DEFAULT_POLICY, ())
    )
    config = render_haproxy(
        LbModel(lb.load_balancers, (bare,), lb.target_groups), RenderSettings(certs_dir=tmp_path)
    )
    assert "HTTPS without a certificate; not served" in config
    assert "frontend" not in config


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_is_accepted_by_haproxy(name: str, tmp_path: Path) -> None:
    if not os.path.exists(HAPROXY):
        pytest.skip("haproxy is not installed")
    parsed = parse_import(RSA_CERT, RSA_KEY)
    files.write_certificate(tmp_path, ARN, "fp-2222", parsed.certificate_pem, parsed.key_pem)
    state = tmp_path / "state"
    state.write_text("1\n")
    settings = RenderSettings(
        admin_socket=tmp_path / "admin.sock", state_file=state, certs_dir=tmp_path
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(render_haproxy(https_model(name), settings))
    result = subprocess.run(
        [HAPROXY, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
