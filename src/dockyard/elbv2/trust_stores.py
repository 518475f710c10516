"""Trust stores for mutual TLS: validate a CA bundle and a CRL as ELB does, and ELB's limits.

Pure: bytes in, a `CaBundle` / `Crl` (or ELB's error: InvalidCaCertificatesBundle,
InvalidRevocationContent) out. The files these become live on the server's disk
(`trust_store_files.py`); the API (`api/elbv2/trust_stores.py`) keeps the counts and
digests in the TRUST_STORE document, and the LB renders `ca-file` / `crl-file` from them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dockyard.elbv2.errors import InvalidCaCertificatesBundle, InvalidRevocationContent

# ELB's quotas (Application Load Balancer quotas: trust stores and certificates).
MAX_TRUST_STORES = 20
MAX_CA_CERTIFICATES = 25
MAX_CA_CERTIFICATE_BYTES = 16 * 1024
MAX_BUNDLE_BYTES = MAX_CA_CERTIFICATES * MAX_CA_CERTIFICATE_BYTES
MAX_REVOCATION_FILES = 30
MAX_REVOKED_ENTRIES = 500_000
MAX_REVOCATION_FILE_BYTES = 50 * 1024 * 1024

BEGIN_CERT = b"-----BEGIN CERTIFICATE-----"
BEGIN_CRL = b"-----BEGIN X509 CRL-----"


@dataclass(frozen=True)
class CaBundle:
    pem: str  # the certificates re-encoded, one PEM block each
    count: int
    sha256: str


@dataclass(frozen=True)
class Crl:
    pem: str  # re-encoded as PEM (a DER upload becomes PEM, what HAProxy's crl-file reads)
    entries: int
    sha256: str


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def parse_ca_bundle(data: bytes) -> CaBundle:
    """One or more PEM X.509v3 CA certificates (basicConstraints CA:TRUE), within ELB's limits."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise InvalidCaCertificatesBundle(
            f"The CA certificates bundle is larger than {MAX_BUNDLE_BYTES} bytes"
        )
    count = data.count(BEGIN_CERT)
    if count == 0:
        raise InvalidCaCertificatesBundle(
            "The CA certificates bundle must contain PEM-encoded certificates"
        )
    if count > MAX_CA_CERTIFICATES:
        raise InvalidCaCertificatesBundle(
            f"A trust store can have at most {MAX_CA_CERTIFICATES} CA certificates; got {count}"
        )
    try:
        certificates = x509.load_pem_x509_certificates(data.strip())
    except ValueError as exc:
        raise InvalidCaCertificatesBundle(
            f"The CA certificates bundle could not be parsed as PEM certificates: {exc}"
        ) from None
    blocks = []
    for certificate in certificates:
        subject = certificate.subject.rfc4514_string()
        if certificate.version != x509.Version.v3 or not _is_ca(certificate):
            raise InvalidCaCertificatesBundle(
                f"Certificate '{subject}' is not an X.509v3 CA certificate "
                "(basicConstraints CA:TRUE)"
            )
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        if len(pem) > MAX_CA_CERTIFICATE_BYTES:
            raise InvalidCaCertificatesBundle(f"Certificate '{subject}' is larger than 16 KB")
        blocks.append(pem.decode())
    text = "".join(blocks)
    return CaBundle(text, len(blocks), hashlib.sha256(text.encode()).hexdigest())


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if BEGIN_CRL in data:
            return x509.load_pem_x509_crl(data.strip())
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise InvalidRevocationContent(
            f"The revocation file is not a PEM or DER X.509 CRL: {exc}"
        ) from None


def parse_crl(data: bytes, bundle_pem: str) -> Crl:
    """A CRL (PEM or DER) signed by one of the trust store's CA certificates."""
    if len(data) > MAX_REVOCATION_FILE_BYTES:
        raise InvalidRevocationContent("The revocation file is larger than 50 MB")
    crl = _load_crl(data)
    issuers = [
        ca
        for ca in x509.load_pem_x509_certificates(bundle_pem.encode())
        if ca.subject == crl.issuer
    ]
    if not any(_signed_by(crl, ca) for ca in issuers):
        raise InvalidRevocationContent(
            f"The CRL issued by '{crl.issuer.rfc4514_string()}' is not signed by a CA "
            "certificate of the trust store"
        )
    pem = crl.public_bytes(serialization.Encoding.PEM).decode()
    return Crl(pem, len(crl), hashlib.sha256(pem.encode()).hexdigest())


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
