"""Trust store revocations: AddTrustStoreRevocations, RemoveTrustStoreRevocations,
DescribeTrustStoreRevocations, GetTrustStoreRevocationContent.

Each revocation is a CRL (PEM or DER, from `S3Bucket` `file` / `inline` as the bundle)
signed by one of the trust store's CA certificates; it gets the next RevocationId of
its trust store (1, 2, ...). Each CRL is kept in the store
(`dockyard.elbv2.trust_store_contents`); the document's `_CrlSha256` is the digest of all
of them joined, the one `crl-file` the leader's LB controller writes for HAProxy;
verify-mode listeners then refuse a revoked client certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.api.elbv2.refs import get_trust_store, notify_lb
from dockyard.api.elbv2.trust_stores import (
    BUNDLE_SHA,
    CRL_SHA,
    NEXT_REVOCATION,
    REVOCATIONS,
    certs_dir,
    download,
    listeners_using,
    prune_after_commit,
)
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2 import trust_store_contents as stored
from dockyard.elbv2 import trust_store_files as files
from dockyard.elbv2.errors import (
    InvalidRevocationContent,
    RevocationContentNotFound,
    RevocationIdNotFound,
    TooManyTrustStoreRevocationEntries,
    ValidationError,
)
from dockyard.elbv2.trust_stores import (
    MAX_REVOCATION_FILE_BYTES,
    MAX_REVOCATION_FILES,
    MAX_REVOKED_ENTRIES,
    parse_crl,
)
from dockyard.errors import AwsError
from dockyard.store import Kind, Tx

PUBLIC = ("RevocationId", "RevocationType", "NumberOfRevokedEntries")


def _public(arn: str, revocation: dict[str, Any]) -> dict[str, Any]:
    return {"TrustStoreArn": arn, **{key: revocation[key] for key in PUBLIC}}


def _read_bundle(tx: Tx, doc: dict[str, Any]) -> str:
    pem = stored.bundle_pem(tx, doc["TrustStoreArn"])
    if pem is None:
        raise InvalidRevocationContent(
            "The trust store's CA certificates bundle is missing: "
            "ModifyTrustStore to upload it again"
        )
    return pem


def _read_pems(
    tx: Tx, doc: dict[str, Any], known: Mapping[int, str], missing: type[AwsError]
) -> dict[int, str]:
    """Each revocation's CRL text by RevocationId: from `known`, else from the store; a CRL
    lost from the store raises `missing` (the error the calling operation models)."""
    ids = [r["RevocationId"] for r in doc[REVOCATIONS]]
    found = {**stored.revocation_pems(tx, doc["TrustStoreArn"], set(ids) - set(known)), **known}
    lost = [i for i in ids if i not in found]
    if lost:
        raise missing(
            f"The CRL of revocation {lost[0]} is missing: remove that revocation and add it again"
        )
    return {i: found[i] for i in ids}


def _save_combined(
    tx: Tx, doc: dict[str, Any], pems: Mapping[int, str], missing: type[AwsError]
) -> None:
    """The digest of the one crl-file of the trust store and the counts; saves the document.
    `pems` was read before the transaction; a revocation added meanwhile is read here."""
    arn = doc["TrustStoreArn"]
    _text, digest = files.combined_crl(_read_pems(tx, doc, pems, missing).values())
    doc[CRL_SHA] = digest if doc[REVOCATIONS] else None
    doc["TotalRevokedEntries"] = sum(r["NumberOfRevokedEntries"] for r in doc[REVOCATIONS])
    tx.update(Kind.TRUST_STORE, arn, doc)


def add_trust_store_revocations(ctx: ApiContext, params: Params) -> Result:
    contents = params.get("RevocationContents") or []
    if not contents:
        raise ValidationError("At least one revocation content must be specified")
    for content in contents:
        if content.get("RevocationType", "CRL") != "CRL":
            raise InvalidRevocationContent("The revocation type must be CRL")
        if not content.get("S3Bucket") or not content.get("S3Key"):
            raise RevocationContentNotFound("A revocation needs an S3Bucket and an S3Key")
    # Files are read and CRLs parsed before the write transaction (it holds the write lock).
    with ctx.store.read() as tx:
        before = get_trust_store(tx, params["TrustStoreArn"])
        bundle = _read_bundle(tx, before)
        pems = _read_pems(tx, before, {}, InvalidRevocationContent)
    sources = [
        files.read_source(
            c["S3Bucket"], c["S3Key"], MAX_REVOCATION_FILE_BYTES, RevocationContentNotFound
        )
        for c in contents
    ]
    crls = [parse_crl(data, bundle) for data in sources]
    with ctx.store.transaction() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        arn = doc["TrustStoreArn"]
        if doc[BUNDLE_SHA] != before[BUNDLE_SHA]:  # ModifyTrustStore meanwhile: check again
            bundle = _read_bundle(tx, doc)
            crls = [parse_crl(data, bundle) for data in sources]
        if len(doc[REVOCATIONS]) + len(crls) > MAX_REVOCATION_FILES:
            raise TooManyTrustStoreRevocationEntries(
                f"A trust store can have at most {MAX_REVOCATION_FILES} revocation files"
            )
        if doc["TotalRevokedEntries"] + sum(c.entries for c in crls) > MAX_REVOKED_ENTRIES:
            raise TooManyTrustStoreRevocationEntries(
                f"A trust store can have at most {MAX_REVOKED_ENTRIES} revoked entries"
            )
        added = []
        for crl in crls:
            revocation = {
                "RevocationId": doc[NEXT_REVOCATION],
                "RevocationType": "CRL",
                "NumberOfRevokedEntries": crl.entries,
                "_Sha256": crl.sha256,
            }
            doc[NEXT_REVOCATION] += 1
            stored.put_revocation(tx, arn, revocation["RevocationId"], crl.pem, crl.sha256)
            pems[revocation["RevocationId"]] = crl.pem
            doc[REVOCATIONS].append(revocation)
            added.append(_public(arn, revocation))
        _save_combined(tx, doc, pems, InvalidRevocationContent)
        prune_after_commit(tx, ctx.certs_dir, doc)
        used = bool(listeners_using(tx, arn))
    if used:
        notify_lb(ctx)
    return {"TrustStoreRevocations": added}


def _known(doc: dict[str, Any], ids: list[int]) -> dict[int, dict[str, Any]]:
    by_id = {r["RevocationId"]: r for r in doc[REVOCATIONS]}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RevocationIdNotFound(f"Revocation ID {missing[0]} not found")
    return by_id


def remove_trust_store_revocations(ctx: ApiContext, params: Params) -> Result:
    ids = list(dict.fromkeys(params["RevocationIds"]))
    if not ids:
        raise ValidationError("At least one revocation ID must be specified")
    with ctx.store.read() as tx:
        before = get_trust_store(tx, params["TrustStoreArn"])
        _known(before, ids)
        kept = {
            **before,
            REVOCATIONS: [r for r in before[REVOCATIONS] if r["RevocationId"] not in ids],
        }
        # the CRLs that stay, read outside the write lock
        pems = _read_pems(tx, kept, {}, ValidationError)
    with ctx.store.transaction() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        _known(doc, ids)
        doc[REVOCATIONS] = [r for r in doc[REVOCATIONS] if r["RevocationId"] not in ids]
        stored.delete_revocations(tx, doc["TrustStoreArn"], ids)
        _save_combined(tx, doc, pems, ValidationError)
        prune_after_commit(tx, ctx.certs_dir, doc)
        used = bool(listeners_using(tx, doc["TrustStoreArn"]))
    if used:
        notify_lb(ctx)
    return {}


def describe_trust_store_revocations(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params)
    with ctx.store.read() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
    ids = list(dict.fromkeys(params.get("RevocationIds") or []))
    by_id = _known(doc, ids)
    chosen = [by_id[i] for i in sorted(ids)] if ids else list(doc[REVOCATIONS])
    items, marker = page_in_memory(chosen, page, lambda r: f"{r['RevocationId']:020d}")
    arn = doc["TrustStoreArn"]
    return answer("TrustStoreRevocations", [_public(arn, r) for r in items], marker)


def get_trust_store_revocation_content(ctx: ApiContext, params: Params) -> Result:
    """Location: a file:// URI of the CRL (as PEM) on this server (ELB: pre-signed S3 URL)."""
    directory = certs_dir(ctx)
    revocation_id = params["RevocationId"]
    with ctx.store.read() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        _known(doc, [revocation_id])
        pem = stored.revocation_pem(tx, doc["TrustStoreArn"], revocation_id)
    if pem is None:  # from before migration 0014, its file not found at the upgrade
        raise RevocationIdNotFound(f"The CRL of revocation ID {revocation_id} is missing")
    path = files.revocation_path(directory, doc["TrustStoreArn"], revocation_id)
    return {"Location": download(path, pem)}
