"""Which listeners use a certificate: DescribeCertificate's InUseBy, DeleteCertificate's
refusal and the LB model read the same two listener fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.store import Kind, Tx

# Listener document field with the SNI certificates (AddListenerCertificates); the
# default certificate is ELB's own `Certificates` field. Not in botocore's Listener
# shape, so DescribeListeners never shows it.
ADDITIONAL_CERTIFICATES = "_ListenerCertificates"


def listener_certificates(listener: Mapping[str, Any]) -> list[str]:
    """The default certificate first, then the SNI ones, without repeats."""
    named = [
        c["CertificateArn"] for c in listener.get("Certificates", []) if c.get("CertificateArn")
    ]
    return list(dict.fromkeys([*named, *listener.get(ADDITIONAL_CERTIFICATES, [])]))


def in_use_by(tx: Tx, arn: str) -> list[str]:
    """Listener ARNs whose default or SNI certificates include this certificate."""
    return listeners_by_certificate(tx).get(arn, [])


def listeners_by_certificate(tx: Tx) -> dict[str, list[str]]:
    """Certificate ARN -> the listeners using it (sorted), in one scan of the listeners
    (ListCertificates answers InUse for every certificate)."""
    found: dict[str, list[str]] = {}
    for doc in tx.find(Kind.LISTENER):
        for arn in listener_certificates(doc):
            found.setdefault(arn, []).append(doc["ListenerArn"])
    return {arn: sorted(listeners) for arn, listeners in found.items()}
