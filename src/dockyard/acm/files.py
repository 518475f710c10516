"""Certificate files on the server's disk: what HAProxy loads for HTTPS listeners.

For a certificate `<id>` (the last part of its ARN), `<certs>/<id>.pem` holds the
certificate and its chain and `<certs>/<id>.pem.key` the private key: HAProxy
loads the key from the `.key` file beside a `crt` (`ssl-load-extra-files`). Both
are mode 0600 in a 0700 directory, so only the server's user (and HAProxy, which
it starts) can read them; the key is never in the store, a response or a log.
Writes go through a temporary file and a rename (`dockyard.files.write_atomic`), so
HAProxy never reads half a key.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.files import write_atomic

DIR_MODE = 0o700
FILE_MODE = 0o600


def certificate_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def pem_path(certs_dir: Path, arn: str) -> Path:
    return certs_dir / f"{certificate_id(arn)}.pem"


def key_path(certs_dir: Path, arn: str) -> Path:
    return certs_dir / f"{certificate_id(arn)}.pem.key"


def ensure_dir(certs_dir: Path) -> None:
    certs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(certs_dir, DIR_MODE)


def write_certificate(certs_dir: Path, arn: str, certificate_pem: str, key_pem: str) -> None:
    """Key first: a `.pem` whose key file is missing would make HAProxy refuse the config."""
    ensure_dir(certs_dir)
    write_atomic(key_path(certs_dir, arn), key_pem, FILE_MODE)
    write_atomic(pem_path(certs_dir, arn), certificate_pem, FILE_MODE)


def remove_certificate(certs_dir: Path, arn: str) -> None:
    for path in (pem_path(certs_dir, arn), key_path(certs_dir, arn)):
        path.unlink(missing_ok=True)
