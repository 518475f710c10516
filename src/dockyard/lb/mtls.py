"""Mutual TLS of an HTTPS listener as HAProxy bind options and header rules (pure).

    verify       bind ... verify required ca-file <truststores/<id>/ca-<sha>.pem>
                     [crl-file <truststores/<id>/crl-<sha>.pem> crt-ignore-err 3 ca-ignore-err 3]
                     [crt-ignore-err 10]      IgnoreClientCertificateExpiry
                     [no-ca-names]            AdvertiseTrustStoreCaNames off (ELB's default)
                 X-Amzn-Mtls-Clientcert-{Serial-Number,Issuer,Subject,Validity,Leaf}
    passthrough  bind ... verify optional ca-file <the listener's certificate file>
                     crt-ignore-err all ca-ignore-err all no-ca-names
                 X-Amzn-Mtls-Clientcert (when the client sent a certificate)

HAProxy refuses `verify` without a `ca-file`; in passthrough every verification error
is ignored, so any file of certificates does, and the listener's own certificate file
always exists. With a `crl-file`, HAProxy makes OpenSSL check every certificate of the
chain against a CRL of its issuer (CRL_CHECK_ALL): error 3 (X509_V_ERR_UNABLE_TO_GET_CRL)
is ignored so that a CA without a CRL still verifies, as on ELB, where only the
uploaded CRLs revoke; a revoked certificate (error 23) is still refused. Error 10 is
X509_V_ERR_CERT_HAS_EXPIRED (the client's own certificate only). HAProxy 2.6 takes
these error ids as numbers, not names.

Headers as ELB sends them: the certificate as URL-encoded PEM (`%20`, `%0A`; `+`, `/`
and `=` left as they are), lines of 64 base64 characters; names in RFC 2253; dates in
ISO 8601. Any X-Amzn-Mtls-* header the client sent is removed first. HAProxy sees only
the leaf certificate, so passthrough forwards the leaf, not the whole chain as ELB does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.elbv2.trust_store_files import bundle_path, crl_path
from dockyard.lb.model import MutualTls
from dockyard.lb.syntax import word

UNABLE_TO_GET_CRL = 3
CERT_HAS_EXPIRED = 10
PREFIX = "X-Amzn-Mtls-Clientcert"
WHEN_CERTIFICATE = "if { ssl_c_used }"
# The client certificate as URL-encoded PEM ('%' is written '%%' outside a %[...] fetch).
PEM = (
    '"-----BEGIN%%20CERTIFICATE-----%%0A'
    "%[ssl_c_der,base64,regsub('(.{64})(?=.)','\\1%0A',g)]"
    '%%0A-----END%%20CERTIFICATE-----%%0A"'
)


def parse_mutual_tls(
    listener: Mapping[str, Any], trust_stores: Mapping[str, Mapping[str, Any]]
) -> MutualTls | None:
    """None for HTTP listeners and mode `off`."""
    config = listener.get("MutualAuthentication") or {}
    mode = config.get("Mode", "off")
    if listener.get("Protocol") != "HTTPS" or mode not in ("verify", "passthrough"):
        return None
    if mode == "passthrough":
        return MutualTls("passthrough")
    arn = str(config.get("TrustStoreArn") or "")
    store = trust_stores.get(arn) or {}
    return MutualTls(
        "verify",
        trust_store=arn,
        bundle_sha256=store.get("_BundleSha256"),
        crl_sha256=store.get("_CrlSha256"),
        ignore_expiry=bool(config.get("IgnoreClientCertificateExpiry")),
        advertise_ca_names=config.get("AdvertiseTrustStoreCaNames") == "on",
    )


def unserved(mtls: MutualTls | None) -> str | None:
    """Why a listener cannot be served (its trust store is gone), else None."""
    if mtls is not None and mtls.mode == "verify" and not mtls.bundle_sha256:
        return f"trust store {mtls.trust_store} not found"
    return None


def bind_options(mtls: MutualTls, certs_dir: Path, default_certificate: Path) -> str:
    """What follows the `ssl crt ...` options on the listener's bind line."""
    if mtls.mode == "passthrough":
        return (
            f"verify optional ca-file {word(str(default_certificate))} "
            "crt-ignore-err all ca-ignore-err all no-ca-names"
        )
    assert mtls.trust_store is not None and mtls.bundle_sha256 is not None
    bundle = bundle_path(certs_dir, mtls.trust_store, mtls.bundle_sha256)
    options = ["verify required", f"ca-file {word(str(bundle))}"]
    crt_ignore = []
    if mtls.crl_sha256:
        crl = crl_path(certs_dir, mtls.trust_store, mtls.crl_sha256)
        options.append(f"crl-file {word(str(crl))}")
        options.append(f"ca-ignore-err {UNABLE_TO_GET_CRL}")
        crt_ignore.append(UNABLE_TO_GET_CRL)
    if mtls.ignore_expiry:
        crt_ignore.append(CERT_HAS_EXPIRED)
    if crt_ignore:
        options.append("crt-ignore-err " + ",".join(str(e) for e in crt_ignore))
    if not mtls.advertise_ca_names:
        options.append("no-ca-names")
    return " ".join(options)


def _iso8601(fetch: str) -> str:
    """ASN.1 UTCTime `YYMMDDhhmmssZ` as `20YY-MM-DDThh:mm:ssZ`."""
    part = [f"%[{fetch},bytes({offset},2)]" for offset in range(0, 12, 2)]
    return f"20{part[0]}-{part[1]}-{part[2]}T{part[3]}:{part[4]}:{part[5]}Z"


def header_rules(mtls: MutualTls | None) -> list[str]:
    """`http-request` lines of the listener's frontend (none without mutual TLS)."""
    if mtls is None:
        return []
    lines = [f"http-request del-header ^{PREFIX.lower()} -m reg"]
    if mtls.mode == "passthrough":
        return [*lines, f"http-request set-header {PREFIX} {PEM} {WHEN_CERTIFICATE}"]
    validity = f"NotBefore={_iso8601('ssl_c_notbefore')};NotAfter={_iso8601('ssl_c_notafter')}"
    values = [
        ("Serial-Number", "%[ssl_c_serial,hex]"),
        ("Issuer", '"%[ssl_c_i_dn(,0,rfc2253)]"'),
        ("Subject", '"%[ssl_c_s_dn(,0,rfc2253)]"'),
        ("Validity", validity),
        ("Leaf", PEM),
    ]
    return lines + [
        f"http-request set-header {PREFIX}-{name} {value} {WHEN_CERTIFICATE}"
        for name, value in values
    ]
