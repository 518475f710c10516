"""Which TLS files a configuration needs: a pure function of the LB model.

    LbModel --wanted(model, certs_dir)--> {path: Piece}
      HTTPS/TLS listener certificate  <id>-<d16>.pem, <id>-<d16>.pem.key   (dockyard.acm.files)
      mutual TLS verify               truststores/<id>/ca-<sha16>.pem [crl-<sha16>.pem]
                                                             (dockyard.elbv2.trust_store_files)

The names carry a digest of the content, so a file that exists is the right file: the
writer (`tls_writer.py`, I/O) reads from the store only what is missing, and prunes what
no piece names. `render.py` names the same paths in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.acm.files import key_path, pem_path
from dockyard.elbv2.trust_store_files import bundle_path, crl_path
from dockyard.lb.model import LbModel

CERTIFICATE = "certificate"  # certificate + chain
KEY = "key"
BUNDLE = "bundle"
CRL = "crl"  # all of a trust store's CRLs in one file


@dataclass(frozen=True)
class Piece:
    """One file: what it holds, of which certificate or trust store, at which digest."""

    kind: str
    arn: str
    digest: str


def wanted(model: LbModel, certs_dir: Path) -> dict[Path, Piece]:
    """Every TLS file the rendered configuration of `model` names, by path."""
    files: dict[Path, Piece] = {}
    for listener in model.listeners:
        if listener.tls is not None:
            for arn, digest in listener.tls.certificates:
                files[pem_path(certs_dir, arn, digest)] = Piece(CERTIFICATE, arn, digest)
                files[key_path(certs_dir, arn, digest)] = Piece(KEY, arn, digest)
        mtls = listener.mtls
        if mtls is None or mtls.mode != "verify" or mtls.trust_store is None:
            continue
        if mtls.bundle_sha256:
            path = bundle_path(certs_dir, mtls.trust_store, mtls.bundle_sha256)
            files[path] = Piece(BUNDLE, mtls.trust_store, mtls.bundle_sha256)
        if mtls.crl_sha256:
            path = crl_path(certs_dir, mtls.trust_store, mtls.crl_sha256)
            files[path] = Piece(CRL, mtls.trust_store, mtls.crl_sha256)
    return files
