"""Trust stores (mutual TLS on HTTPS listeners): CreateTrustStore, DescribeTrustStores,
ModifyTrustStore, DeleteTrustStore, GetTrustStoreCaCertificatesBundle,
DescribeTrustStoreAssociations, DeleteSharedTrustStoreAssociation.

The CA bundle comes from the server's disk or from the request (`S3Bucket` `file` /
`inline`: see `dockyard.elbv2.trust_store_files`); it is validated
(`dockyard.elbv2.trust_stores`) and kept in the store (`dockyard.elbv2.trust_store_contents`),
from which the leader's LB controller writes the `ca-file` HAProxy reads: any server can
take the call. The document keeps ELB's TrustStore fields and, under `_` keys that
botocore's shape does not have (so no response shows them), the digests that name the
files and the revocations (see trust_store_revocations.py). Get*'s `Location` is a file
this server writes from the store on demand under its `<data-dir>/certs` (the download
area; mutations prune the files there that the document no longer names). Status is
ACTIVE at once: the bundle is validated before the call answers, so TrustStoreNotReady is
never due.
Listeners use a trust store through MutualAuthentication (mutual_authentication.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.api.elbv2.refs import get_trust_store, notify_lb, trust_store_arn
from dockyard.api.elbv2.tags import check_tags, put_tags
from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2 import trust_store_contents as contents
from dockyard.elbv2 import trust_store_files as files
from dockyard.elbv2.errors import (
    CaCertificatesBundleNotFound,
    DeleteAssociationSameAccount,
    DuplicateTrustStoreName,
    TooManyTrustStores,
    TrustStoreAssociationNotFound,
    TrustStoreInUse,
    TrustStoreNotFound,
    ValidationError,
)
from dockyard.elbv2.trust_stores import MAX_BUNDLE_BYTES, MAX_TRUST_STORES, parse_ca_bundle
from dockyard.store import Kind, Tx

NAME = re.compile(r"^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$")
PUBLIC = ("Name", "TrustStoreArn", "Status", "NumberOfCaCertificates", "TotalRevokedEntries")
# Private document fields (not in botocore's TrustStore shape).
BUNDLE_SHA = "_BundleSha256"
CRL_SHA = "_CrlSha256"  # all revocations in one crl-file; None without revocations
REVOCATIONS = "_Revocations"  # [{RevocationId, RevocationType, NumberOfRevokedEntries, _Sha256}]
NEXT_REVOCATION = "_NextRevocationId"


def certs_dir(ctx: ApiContext) -> Path:
    if ctx.certs_dir is None:
        raise ValidationError("This server has no directory for trust store files")
    return ctx.certs_dir


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: doc[key] for key in PUBLIC if key in doc}


def listeners_using(tx: Tx, arn: str) -> list[dict[str, Any]]:
    """Listeners whose MutualAuthentication names this trust store."""
    return [
        doc
        for doc in tx.find(Kind.LISTENER)
        if (doc.get("MutualAuthentication") or {}).get("TrustStoreArn") == arn
    ]


def file_paths(directory: Path, doc: dict[str, Any]) -> list[Path]:
    """Every file the committed document names (what `prune` keeps)."""
    arn = doc["TrustStoreArn"]
    paths = [files.bundle_path(directory, arn, doc[BUNDLE_SHA])]
    if doc.get(CRL_SHA):
        paths.append(files.crl_path(directory, arn, doc[CRL_SHA]))
    paths += [
        files.revocation_path(directory, arn, r["RevocationId"]) for r in doc.get(REVOCATIONS, [])
    ]
    return paths


def prune_after_commit(tx: Tx, directory: Path | None, doc: dict[str, Any]) -> None:
    """Drop the download files (Get*'s Locations) the committed document no longer names."""
    if directory is None:
        return
    keep = file_paths(directory, doc)
    store = files.store_dir(directory, doc["TrustStoreArn"])
    tx.after_commit(lambda: files.prune(store, keep))


def download(path: Path, text: str) -> str:
    """Write `text` to `path` in the download area unless it is there; its file:// URI."""
    if not path.is_file():
        files.write_file(path, text)
    return path.resolve().as_uri()


def _bundle(params: Params) -> Any:
    data = files.read_source(
        params["CaCertificatesBundleS3Bucket"],
        params["CaCertificatesBundleS3Key"],
        MAX_BUNDLE_BYTES,
        CaCertificatesBundleNotFound,
    )
    return parse_ca_bundle(data)


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= 32 or not NAME.match(name):
        raise ValidationError(
            f"Trust store name '{name}' must be 1-32 alphanumeric characters or hyphens, "
            "and cannot begin or end with a hyphen or contain two hyphens in a row"
        )


def create_trust_store(ctx: ApiContext, params: Params) -> Result:
    name, tags = params["Name"], params.get("Tags", [])
    _check_name(name)
    check_tags(tags)
    bundle = _bundle(params)
    with ctx.store.transaction() as tx:
        if tx.find(Kind.TRUST_STORE, {"name": name}):
            raise DuplicateTrustStoreName(f"A trust store named '{name}' already exists")
        if tx.count(Kind.TRUST_STORE) >= MAX_TRUST_STORES:
            raise TooManyTrustStores(f"An account can have at most {MAX_TRUST_STORES} trust stores")
        arn = trust_store_arn(ctx.identity, name)
        doc = {
            "Name": name,
            "TrustStoreArn": arn,
            "Status": "ACTIVE",
            "NumberOfCaCertificates": bundle.count,
            "TotalRevokedEntries": 0,
            BUNDLE_SHA: bundle.sha256,
            CRL_SHA: None,
            REVOCATIONS: [],
            NEXT_REVOCATION: 1,
        }
        tx.insert(Kind.TRUST_STORE, arn, doc, name=name)
        put_tags(tx, arn, tags)
        contents.put_bundle(tx, arn, bundle.pem, bundle.sha256)
    return {"TrustStores": [public(doc)]}


def describe_trust_stores(ctx: ApiContext, params: Params) -> Result:
    arns, names = params.get("TrustStoreArns"), params.get("Names")
    if arns and names:
        raise ValidationError("Specify either trust store ARNs or names, not both")
    page = page_of(params)
    with ctx.store.read() as tx:
        if arns:
            docs = [get_trust_store(tx, arn) for arn in dict.fromkeys(arns)]
        elif names:
            docs = []
            for name in dict.fromkeys(names):
                found = tx.find(Kind.TRUST_STORE, {"name": name})
                if not found:
                    raise TrustStoreNotFound(f"Trust store '{name}' not found")
                docs += found
        else:
            docs = tx.find(Kind.TRUST_STORE)
    ordered = sorted(docs, key=lambda d: str(d["Name"]))
    items, marker = page_in_memory(ordered, page, lambda d: d["Name"])
    return answer("TrustStores", [public(d) for d in items], marker)


def modify_trust_store(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        get_trust_store(tx, params["TrustStoreArn"])  # TrustStoreNotFound before the bundle
    bundle = _bundle(params)
    with ctx.store.transaction() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        arn = doc["TrustStoreArn"]
        doc["NumberOfCaCertificates"] = bundle.count
        doc[BUNDLE_SHA] = bundle.sha256
        tx.update(Kind.TRUST_STORE, arn, doc)
        contents.put_bundle(tx, arn, bundle.pem, bundle.sha256)
        prune_after_commit(tx, ctx.certs_dir, doc)
        used = bool(listeners_using(tx, arn))
    if used:
        notify_lb(ctx)  # HAProxy reloads with the new bundle (its name carries the digest)
    return {"TrustStores": [public(doc)]}


def delete_trust_store(ctx: ApiContext, params: Params) -> Result:
    directory = ctx.certs_dir
    with ctx.store.transaction() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        arn = doc["TrustStoreArn"]
        using = listeners_using(tx, arn)
        if using:
            raise TrustStoreInUse(
                f"Trust store '{arn}' is in use by listener '{using[0]['ListenerArn']}'"
            )
        tx.delete_all_tags(arn)
        tx.delete(Kind.TRUST_STORE, arn)
        contents.delete_all(tx, arn)
        if directory is not None:
            tx.after_commit(lambda: files.remove_store(directory, arn))
    return {}


def get_trust_store_ca_certificates_bundle(ctx: ApiContext, params: Params) -> Result:
    """Location: a file:// URI of the bundle on this server (ELB: a pre-signed S3 URL)."""
    directory = certs_dir(ctx)
    with ctx.store.read() as tx:
        doc = get_trust_store(tx, params["TrustStoreArn"])
        pem = contents.bundle_pem(tx, doc["TrustStoreArn"])
    if pem is None:  # a trust store from before migration 0014 whose files were not found
        raise TrustStoreNotFound(
            f"Trust store '{doc['TrustStoreArn']}' has no CA certificates bundle in the store "
            "(its file was not found after an upgrade): ModifyTrustStore to upload it again"
        )
    path = files.bundle_path(directory, doc["TrustStoreArn"], doc[BUNDLE_SHA])
    return {"Location": download(path, pem)}


def _associations(tx: Tx, arn: str) -> list[str]:
    return sorted({doc["LoadBalancerArn"] for doc in listeners_using(tx, arn)})


def describe_trust_store_associations(ctx: ApiContext, params: Params) -> Result:
    """The load balancers whose listeners use the trust store."""
    page = page_of(params)
    with ctx.store.read() as tx:
        get_trust_store(tx, params["TrustStoreArn"])
        arns = _associations(tx, params["TrustStoreArn"])
    items, marker = page_in_memory(arns, page, lambda arn: arn)
    return answer("TrustStoreAssociations", [{"ResourceArn": arn} for arn in items], marker)


def delete_shared_trust_store_association(ctx: ApiContext, params: Params) -> Result:
    """Nothing is shared across accounts on Dockyard: ELB's two refusals."""
    with ctx.store.read() as tx:
        get_trust_store(tx, params["TrustStoreArn"])
    parsed = parse_arn(params["ResourceArn"])
    if parsed is not None and parsed.account == ctx.identity.account_id:
        raise DeleteAssociationSameAccount(
            "The specified association can't be within the same account: remove the "
            "listener's MutualAuthentication instead (Dockyard shares no trust stores)"
        )
    raise TrustStoreAssociationNotFound(
        "The specified association does not exist: Dockyard shares no trust stores"
    )
