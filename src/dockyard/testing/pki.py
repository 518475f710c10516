"""A small PKI for mutual-TLS tests: a CA, client certificates it issues, and its CRLs.

All PEM bytes; keys are EC P-256 (fast to generate). `Ca.crl(revoked)` signs a CRL
revoking the given client certificates, valid for a day.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Client:
    certificate: bytes
    key: bytes
    serial: int


@dataclass(frozen=True)
class Ca:
    name: str
    certificate: bytes
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "Dockyard Test CA", *, ca: bool = True) -> Ca:
        """A self-signed CA (with `ca=False`: a self-signed leaf, which trust stores refuse)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(name, certificate.public_bytes(PEM), key)

    @property
    def subject(self) -> x509.Name:
        return x509.load_pem_x509_certificate(self.certificate).subject

    def issue(self, common_name: str, *, days: int = 30, expired: bool = False) -> Client:
        """A client certificate (clientAuth) signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = _now() - datetime.timedelta(days=10 if expired else 1)
        end = (
            _now() - datetime.timedelta(days=1)
            if expired
            else _now() + datetime.timedelta(days=days)
        )
        serial = x509.random_serial_number()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Client(certificate.public_bytes(PEM), _key_pem(key), serial)

    def crl(self, revoked: list[Client], *, der: bool = False) -> bytes:
        """A CRL of this CA revoking `revoked` (PEM, or DER)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.subject)
            .last_update(_now() - datetime.timedelta(minutes=5))
            .next_update(_now() + datetime.timedelta(days=1))
        )
        for client in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(client.serial)
                .revocation_date(_now() - datetime.timedelta(minutes=5))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER if der else PEM)
