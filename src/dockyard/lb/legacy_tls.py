"""Copy TLS material a server kept as files (before migration 0014) into the store.

Before 0014, ImportCertificate wrote `<data-dir>/certs/<id>.pem.key` and the trust-store
calls wrote `<data-dir>/certs/truststores/<id>/ca-<sha16>.pem` / `revocation-<n>.pem` on
the server that took the call, and nothing in the store. A migration cannot do this copy
(Alembic does not know the data dir, and with several servers each holds its own files),
so every server does it at start, before it serves: what the store lacks and its own data
dir has goes in (a bundle or CRL only when its digest matches the document). Idempotent:
the second start finds nothing to do. Copied key files are then deleted (the key lives in
the store now); trust-store files stay (they are public, and Get*'s download area reuses
that layout). What no server has stays missing: such a certificate is not served
("without a certificate") until it is imported again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from dockyard.acm import keys
from dockyard.acm.files import certificate_id
from dockyard.elbv2 import trust_store_contents as contents
from dockyard.elbv2.trust_store_files import bundle_path, revocation_path
from dockyard.store import Kind, Store, Tx

log = logging.getLogger("dockyard.lb")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _certificates(tx: Tx, legacy: Path) -> list[Path]:
    """Keys copied in; their files (to delete after the commit)."""
    done = []
    arns = tx.find_keys(Kind.CERTIFICATE)
    for arn in sorted(set(arns) - keys.with_keys(tx, arns)):
        key_file = legacy / f"{certificate_id(arn)}.pem.key"
        key = _read(key_file)
        if key is not None and "PRIVATE KEY" in key:
            keys.put_key(tx, arn, key)
            done += [key_file, legacy / f"{certificate_id(arn)}.pem"]
    return done


def _trust_stores(tx: Tx, legacy: Path) -> int:
    copied = 0
    for doc in tx.find(Kind.TRUST_STORE):
        arn = doc["TrustStoreArn"]
        if not contents.with_bundles(tx, [arn]):
            pem = _read(bundle_path(legacy, arn, doc["_BundleSha256"]))
            if pem is not None and _sha(pem) == doc["_BundleSha256"]:
                contents.put_bundle(tx, arn, pem, doc["_BundleSha256"])
                copied += 1
        revocations = doc.get("_Revocations", [])
        have = contents.revocation_pems(tx, arn, [r["RevocationId"] for r in revocations])
        for revocation in revocations:
            number = revocation["RevocationId"]
            if number in have:
                continue
            pem = _read(revocation_path(legacy, arn, number))
            if pem is not None and _sha(pem) == revocation.get("_Sha256"):
                contents.put_revocation(tx, arn, number, pem, revocation["_Sha256"])
                copied += 1
    return copied


def adopt_legacy_files(store: Store, legacy: Path) -> int:
    """Copy what the store lacks from `legacy` (a data dir's `certs`); the number of
    pieces copied. Nothing is read when the directory does not exist."""
    if not legacy.is_dir():
        return 0
    with store.transaction() as tx:
        key_files = _certificates(tx, legacy)
        copied = _trust_stores(tx, legacy)
    for path in key_files:
        path.unlink(missing_ok=True)
    total = len(key_files) // 2 + copied
    if total:
        log.info("copied %d certificate keys, CA bundles and CRLs from %s into the store",
                 total, legacy)  # fmt: skip
    return total
