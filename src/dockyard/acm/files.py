"""Certificate files for HAProxy: names, digests and private writes.

The LB controller of the leading server writes these under its `--lb-dir` from the store
(`dockyard.lb.tls_files`); no API call writes a file. For a certificate `<id>` (the last
part of its ARN) whose certificate + chain have the digest `<d>`, `<certs>/<id>-<d16>.pem`
holds the certificate and its chain and `<certs>/<id>-<d16>.pem.key` the private key:
HAProxy loads the key from the `.key` file beside a `crt` (`ssl-load-extra-files`). The
digest in the name makes a re-import a new file (and a new config: HAProxy reloads), so an
existing file never has to be compared or rewritten. Mode 0600 files in a 0700 directory:
only the server's user (and HAProxy, which it starts) can read them. Writes go through a
temporary file and a rename (`dockyard.files.write_atomic`), so HAProxy never reads half a
key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dockyard.files import write_atomic

DIR_MODE = 0o700
FILE_MODE = 0o600
DIGEST_CHARS = 16


def certificate_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def material_digest(certificate_pem: str, chain_pem: str) -> str:
    """What the file name carries (`_PemSha256` of the document): the key is fixed by the
    certificate's public key, so certificate + chain name the whole file pair."""
    return hashlib.sha256((certificate_pem + chain_pem).encode()).hexdigest()


def pem_path(certs_dir: Path, arn: str, digest: str) -> Path:
    return certs_dir / f"{certificate_id(arn)}-{digest[:DIGEST_CHARS]}.pem"


def key_path(certs_dir: Path, arn: str, digest: str) -> Path:
    pem = pem_path(certs_dir, arn, digest)
    return pem.with_name(pem.name + ".key")


def ensure_dir(certs_dir: Path) -> None:
    certs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(certs_dir, DIR_MODE)


def write_certificate(
    certs_dir: Path, arn: str, digest: str, certificate_pem: str, key_pem: str
) -> None:
    """Key first: a `.pem` whose key file is missing would make HAProxy refuse the config."""
    ensure_dir(certs_dir)
    write_atomic(key_path(certs_dir, arn, digest), key_pem, FILE_MODE)
    write_atomic(pem_path(certs_dir, arn, digest), certificate_pem, FILE_MODE)
