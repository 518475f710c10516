"""Write the TLS files HAProxy needs from the store, and remove the ones nothing names.

The leading server's LB controller calls `write_missing` inside the read transaction
that loaded the model (one snapshot: the contents match the digests the model names),
before it renders; `prune` once the running HAProxy has loaded a configuration.
A server that takes over (another one imported the certificate, or led before) writes
what its `--lb-dir` lacks from the store; nothing depends on which server took the API
call. Private keys are read here and nowhere else (`dockyard.acm.keys.read_key`).
Files 0600, directories 0700; writes are atomic (a temporary file and a rename).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from dockyard.acm import keys
from dockyard.elbv2 import trust_store_contents as contents
from dockyard.elbv2.trust_store_files import combined_crl
from dockyard.files import write_atomic
from dockyard.lb.tls_files import BUNDLE, CERTIFICATE, CRL, KEY, Piece
from dockyard.store import Kind, Tx

log = logging.getLogger("dockyard.lb")
FILE_MODE = 0o600
DIR_MODE = 0o700


class TlsWriter:
    def __init__(self, certs_dir: Path) -> None:
        self.certs_dir = certs_dir
        self._pruned: frozenset[Path] | None = None  # the wanted set of the last prune
        self._warned: set[Path] = set()

    def write_missing(self, tx: Tx, files: Mapping[Path, Piece]) -> list[Path]:
        """Write every wanted file that does not exist; return the ones that could not be
        made (their content is not in the store: logged once each)."""
        missing = []
        for path, piece in files.items():
            if path.is_file():
                continue
            text = _content(tx, piece)
            if text is None:
                if path not in self._warned:
                    log.warning("no %s of %s in the store for %s", piece.kind, piece.arn, path)
                    self._warned.add(path)
                missing.append(path)
                continue
            self._write(path, text)
            log.info("wrote %s", path.relative_to(self.certs_dir))
        return missing

    def _write(self, path: Path, text: str) -> None:
        directory = path.parent
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for parent in (directory, *directory.parents):  # certs/, truststores/, <id>/
            if parent == self.certs_dir.parent:
                break
            os.chmod(parent, DIR_MODE)
        write_atomic(path, text, FILE_MODE)

    def prune(self, files: Mapping[Path, Piece]) -> None:
        """Remove every file under the certs dir that `files` does not name (and empty
        trust-store directories); nothing to do while the wanted set is unchanged."""
        keep = frozenset(files)
        if keep == self._pruned or not self.certs_dir.is_dir():
            self._pruned = keep
            return
        for path in sorted(self.certs_dir.rglob("*"), reverse=True):  # files before their dir
            if path.is_dir():
                if path != self.certs_dir and not any(path.iterdir()):
                    path.rmdir()
            elif path not in keep:
                path.unlink(missing_ok=True)
                log.info("removed %s", path.relative_to(self.certs_dir))
        self._pruned = keep


def _content(tx: Tx, piece: Piece) -> str | None:
    """A file's text from the store, None when the store lacks it or holds other content
    than the digest names."""
    if piece.kind == KEY:
        return keys.read_key(tx, piece.arn)
    if piece.kind == CERTIFICATE:
        doc = tx.get(Kind.CERTIFICATE, piece.arn)
        if doc is None:
            return None
        return str(doc.get("_Certificate", "")) + str(doc.get("_CertificateChain", ""))
    if piece.kind == BUNDLE:
        pem = contents.bundle_pem(tx, piece.arn)
        same = pem is not None and hashlib.sha256(pem.encode()).hexdigest() == piece.digest
        return pem if same else None
    if piece.kind == CRL:
        doc = tx.get(Kind.TRUST_STORE, piece.arn)
        ids = [r["RevocationId"] for r in (doc or {}).get("_Revocations", [])]
        pems = contents.revocation_pems(tx, piece.arn, ids)
        if len(pems) != len(ids):
            return None
        text, digest = combined_crl(pems[i] for i in ids)
        return text if digest == piece.digest else None
    return None
