"""Trust-store CA bundles and CRLs in the store (Kind.TRUST_STORE_CONTENT).

One row per piece, keyed `<trust store ARN>|bundle` (the current CA bundle) and
`<trust store ARN>|revocation-<id>` (each CRL as PEM), with the trust store's ARN in the
indexed `trust_store` column; documents `{"Pem": ..., "Sha256": ...}`. Kept out of the
TRUST_STORE document so that describing or listing trust stores (and the LB model, read
every step) never drags megabytes of CRLs along. The leader's LB controller writes HAProxy's
`ca-file` / `crl-file` from these rows (`dockyard.lb.tls_files`); the API writes them in
the transaction that changes the trust store, so any server can take the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dockyard.store import Kind, Tx

BUNDLE = "bundle"


def _key(arn: str, piece: str) -> str:
    return f"{arn}|{piece}"


def _revocation(revocation_id: int) -> str:
    return f"revocation-{revocation_id}"


def _put(tx: Tx, arn: str, piece: str, doc: dict[str, Any]) -> None:
    key = _key(arn, piece)
    if tx.find_keys(Kind.TRUST_STORE_CONTENT, {"arn": key}):
        tx.update(Kind.TRUST_STORE_CONTENT, key, doc)
    else:
        tx.insert(Kind.TRUST_STORE_CONTENT, key, doc, trust_store=arn)


def put_bundle(tx: Tx, arn: str, pem: str, sha256: str) -> None:
    _put(tx, arn, BUNDLE, {"Pem": pem, "Sha256": sha256})


def put_revocation(tx: Tx, arn: str, revocation_id: int, pem: str, sha256: str) -> None:
    _put(tx, arn, _revocation(revocation_id), {"Pem": pem, "Sha256": sha256})


def delete_revocations(tx: Tx, arn: str, revocation_ids: Iterable[int]) -> None:
    for revocation_id in revocation_ids:
        tx.delete(Kind.TRUST_STORE_CONTENT, _key(arn, _revocation(revocation_id)))


def delete_all(tx: Tx, arn: str) -> None:
    for key in tx.find_keys(Kind.TRUST_STORE_CONTENT, {"trust_store": arn}):
        tx.delete(Kind.TRUST_STORE_CONTENT, key)


def bundle_pem(tx: Tx, arn: str) -> str | None:
    doc = tx.get(Kind.TRUST_STORE_CONTENT, _key(arn, BUNDLE))
    return None if doc is None else str(doc["Pem"])


def revocation_pem(tx: Tx, arn: str, revocation_id: int) -> str | None:
    doc = tx.get(Kind.TRUST_STORE_CONTENT, _key(arn, _revocation(revocation_id)))
    return None if doc is None else str(doc["Pem"])


def revocation_pems(tx: Tx, arn: str, revocation_ids: Iterable[int]) -> dict[int, str]:
    """The CRLs of these revocations by id (the ones missing left out)."""
    found = {}
    for revocation_id in revocation_ids:
        pem = revocation_pem(tx, arn, revocation_id)
        if pem is not None:
            found[revocation_id] = pem
    return found


def with_bundles(tx: Tx, arns: Iterable[str]) -> set[str]:
    """Which of these trust stores have their bundle in the store (without reading it)."""
    keys = sorted(_key(arn, BUNDLE) for arn in set(arns))
    found = tx.find_keys(Kind.TRUST_STORE_CONTENT, {"arn": keys}) if keys else []
    return {key.rsplit("|", 1)[0] for key in found}
