"""Validate an imported certificate as ACM does and read what DescribeCertificate shows.

Pure: bytes in, a `Parsed` (or a `PemError` whose text is the client's) out. The
certificate must be one PEM certificate, the key an unencrypted PEM private key
whose public half is the certificate's, the chain zero or more PEM certificates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

BEGIN_CERT = b"-----BEGIN CERTIFICATE-----"


class PemError(ValueError):
    """An input ACM refuses; the text is shown to the client."""


@dataclass(frozen=True)
class Parsed:
    certificate_pem: str
    chain_pem: str
    key_pem: str
    domain_name: str
    alternative_names: tuple[str, ...]
    subject: str
    issuer: str
    serial: str  # colon-separated hex, as ACM writes it
    not_before: float
    not_after: float
    key_algorithm: str  # ACM's KeyAlgorithm enum: RSA_2048, EC_prime256v1, ...
    signature_algorithm: str  # e.g. SHA256WITHRSA
    fingerprint: str  # sha256 of the certificate's DER, hex


def _load_certificate(data: bytes, what: str) -> x509.Certificate:
    if data.count(BEGIN_CERT) != 1:
        raise PemError(f"The {what} must contain exactly one PEM-encoded certificate.")
    try:
        return x509.load_pem_x509_certificate(data.strip())
    except ValueError as exc:
        raise PemError(f"Could not parse the {what} as a PEM X.509 certificate: {exc}") from None


def _load_chain(data: bytes) -> list[x509.Certificate]:
    if not data.strip():
        return []
    try:
        chain = x509.load_pem_x509_certificates(data.strip())
    except ValueError as exc:
        raise PemError(
            f"Could not parse the certificate chain as PEM certificates: {exc}"
        ) from None
    return chain


def key_algorithm(key: object) -> str:
    """ACM's name for a key type; the types ACM cannot import are refused."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size not in (1024, 2048, 3072, 4096):
            raise PemError(f"RSA keys of {key.key_size} bits are not supported.")
        return f"RSA_{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        names = {
            "secp256r1": "EC_prime256v1",
            "secp384r1": "EC_secp384r1",
            "secp521r1": "EC_secp521r1",
        }
        if key.curve.name not in names:
            raise PemError(f"Elliptic curve {key.curve.name} is not supported.")
        return names[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        raise PemError("Ed25519 keys are not supported.")
    raise PemError("The private key type is not supported: use RSA or EC (P-256, P-384, P-521).")


def _public_der(key: object) -> bytes:
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _signature_name(cert: x509.Certificate) -> str:
    digest = cert.signature_hash_algorithm
    digest_name = digest.name.upper().replace("-", "") if digest else "NONE"
    key = cert.public_key()
    kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "ECDSA"
    return f"{digest_name}WITH{kind}"


def _names(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(str(name) for name in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = ()
    domain = str(common[0].value) if common else (dns[0] if dns else "")
    if not domain:
        raise PemError(
            "The certificate names no domain (no CN and no DNS subject alternative name)."
        )
    return domain, tuple(dict.fromkeys((domain, *dns)))


def parse_import(certificate: bytes, private_key: bytes, chain: bytes = b"") -> Parsed:
    """Validate an ImportCertificate's blobs; raise PemError with ACM-like text."""
    cert = _load_certificate(certificate, "certificate")
    chain_certs = _load_chain(chain)
    try:
        key = serialization.load_pem_private_key(private_key.strip(), password=None)
    except TypeError:
        raise PemError("The private key must not be encrypted.") from None
    except ValueError as exc:
        raise PemError(f"Could not parse the private key as PEM: {exc}") from None
    algorithm = key_algorithm(key)
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise PemError("The private key does not match the public key in the certificate.")
    domain, names = _names(cert)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    pem = serialization.Encoding.PEM
    return Parsed(
        certificate_pem=cert.public_bytes(pem).decode(),
        chain_pem="".join(c.public_bytes(pem).decode() for c in chain_certs),
        key_pem=key_pem,
        domain_name=domain,
        alternative_names=names,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=":".join(f"{b:02x}" for b in cert.serial_number.to_bytes(20, "big").lstrip(b"\0")),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        key_algorithm=algorithm,
        signature_algorithm=_signature_name(cert),
        fingerprint=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def status(not_after: float, now: float) -> str:
    """ISSUED until NotAfter, EXPIRED from then on."""
    return "ISSUED" if now < not_after else "EXPIRED"
