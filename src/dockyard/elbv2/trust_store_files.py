"""Trust-store files on the server's disk, and where ELB's "S3 locations" point on Dockyard.

Dockyard has no S3. Where ELB takes a bundle or a CRL from `S3Bucket` / `S3Key`:

- `S3Bucket=file`, `S3Key=/absolute/path` reads that file on the server's machine
  (`file:///absolute/path` in the key is accepted too);
- `S3Bucket=inline`, `S3Key=<the PEM text>` takes the content from the request itself
  (with the aws CLI: `--ca-certificates-bundle-s3-key file://ca.pem`, which the CLI
  reads and sends as the value).

Any other bucket is CaCertificatesBundleNotFound / RevocationContentNotFound, saying so.

The contents live in the store (`trust_store_contents.py`); these are the names of the
files made from them. For a trust store `<id>` (the last part of its ARN),
`<certs>/truststores/<id>/` holds `ca-<sha16>.pem` (the validated bundle),
`revocation-<n>.pem` (each CRL added, as PEM) and `crl-<sha16>.pem` (all CRLs in one file:
HAProxy's `crl-file`). Two places use these names: the leader's LB controller writes
`ca-`/`crl-` files under `<lb-dir>/certs` (mode 0600, `dockyard.lb.tls_files`), and the
API writes Get*'s download files under `<data-dir>/certs` (`write_file`: mode 0644, CA
certificates and CRLs are public, in a 0700 directory). Names carry the content's digest,
so a change is a new file and the config names the digest: a new bundle reloads HAProxy.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

from dockyard.elbv2.errors import ElbError
from dockyard.files import write_atomic

FILE_MODE = 0o644
DIR_MODE = 0o700  # as ACM's certs directory (dockyard.acm.files)
INLINE_BUCKET = "inline"
FILE_BUCKET = "file"


def store_dir(certs_dir: Path, arn: str) -> Path:
    return certs_dir / "truststores" / arn.rsplit("/", 1)[-1]


def bundle_path(certs_dir: Path, arn: str, sha256: str) -> Path:
    return store_dir(certs_dir, arn) / f"ca-{sha256[:16]}.pem"


def revocation_path(certs_dir: Path, arn: str, revocation_id: int) -> Path:
    return store_dir(certs_dir, arn) / f"revocation-{revocation_id}.pem"


def crl_path(certs_dir: Path, arn: str, sha256: str) -> Path:
    return store_dir(certs_dir, arn) / f"crl-{sha256[:16]}.pem"


def combined_crl(pems: Iterable[str]) -> tuple[str, str]:
    """All CRLs in one PEM text, and its sha256 (what `crl_path` is named after)."""
    text = "".join(pems)
    return text, hashlib.sha256(text.encode()).hexdigest()


def read_source(bucket: str, key: str, max_bytes: int, not_found: type[ElbError]) -> bytes:
    """The content an `S3Bucket` / `S3Key` pair names on Dockyard (see the module doc)."""
    if bucket == INLINE_BUCKET:
        return key.encode()
    if bucket != FILE_BUCKET:
        raise not_found(
            f"Bucket '{bucket}' not found: Dockyard has no S3; use S3Bucket 'file' with an "
            "absolute path on the server as S3Key, or S3Bucket 'inline' with the PEM as S3Key"
        )
    path = Path(key.removeprefix("file://"))
    if not path.is_absolute():
        raise not_found(f"'{key}' is not an absolute path on the server")
    if not path.is_file():  # a directory or a FIFO would not do (and a FIFO would block)
        raise not_found(f"'{key}' is not a readable file on the server")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise not_found(f"Cannot read '{key}' on the server: {exc.strerror}") from None
    return data


def write_file(path: Path, text: str) -> None:
    """Through a temporary file and a rename: HAProxy never reads half a bundle."""
    for directory in (path.parent.parent.parent, path.parent.parent, path.parent):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)  # certs/, truststores/, <id>/
    write_atomic(path, text, FILE_MODE)


def prune(directory: Path, keep: Iterable[Path]) -> None:
    """Remove the files of a trust store that its committed document no longer names."""
    names = {path.name for path in keep}
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name not in names:
                path.unlink(missing_ok=True)


def remove_store(certs_dir: Path, arn: str) -> None:
    shutil.rmtree(store_dir(certs_dir, arn), ignore_errors=True)
