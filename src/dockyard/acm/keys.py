"""Private keys of imported certificates, in the store (Kind.CERTIFICATE_KEY).

Apart from the certificate document on purpose: every API read of certificates
(Describe, List, Get) reads the CERTIFICATE kind, so none of them can show a key by
mistake. The key is read in one place, by the load-balancer controller that writes
HAProxy's key files (`dockyard.lb.tls_files`). Any server can take the ImportCertificate
and whichever server leads writes the files, because the key travels with the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.store import Kind, Tx

FIELD = "PrivateKey"


def put_key(tx: Tx, arn: str, key_pem: str) -> None:
    """Insert or replace (a re-import) the key of a certificate."""
    if not tx.find_keys(Kind.CERTIFICATE_KEY, {"arn": arn}):
        tx.insert(Kind.CERTIFICATE_KEY, arn, {FIELD: key_pem})
    else:
        tx.update(Kind.CERTIFICATE_KEY, arn, {FIELD: key_pem})


def delete_key(tx: Tx, arn: str) -> None:
    tx.delete(Kind.CERTIFICATE_KEY, arn)


def with_keys(tx: Tx, arns: Iterable[str]) -> set[str]:
    """Which of these certificates have a key (without reading the keys)."""
    wanted = sorted(set(arns))
    return set(tx.find_keys(Kind.CERTIFICATE_KEY, {"arn": wanted})) if wanted else set()


def read_key(tx: Tx, arn: str) -> str | None:
    """The key's PEM text: for the LB controller's key files only, never for a response."""
    doc = tx.get(Kind.CERTIFICATE_KEY, arn)
    return None if doc is None else str(doc[FIELD])
