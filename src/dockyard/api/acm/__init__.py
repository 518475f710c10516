"""The ACM subset on AWS JSON 1.1 (`X-Amz-Target: CertificateManager.<Action>`).

Imported certificates only (Type IMPORTED): ImportCertificate validates the PEM
blobs (`dockyard.acm.pem`), keeps the certificate document in the store and the
private key in its own kind (`dockyard.acm.keys`), which only the leader's LB controller
reads to write HAProxy's 0600 key files (`dockyard.lb.tls_files`). Any server can take the
call. No response, certificate document or log has the key.
InUseBy and DeleteCertificate's refusal come from the listeners that name the
certificate (default certificate or listener certificates).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from dockyard.acm import files, keys
from dockyard.acm.pem import Parsed, PemError, parse_import, status
from dockyard.acm.usage import in_use_by, listeners_by_certificate
from dockyard.api.json_protocol import JsonService
from dockyard.api.pagination import Page, decode_token, paginate_list
from dockyard.arns import new_id
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import AwsError
from dockyard.store import Kind, Tx

log = logging.getLogger(__name__)

MAX_TAGS = 50


class AcmError(AwsError):
    code = "ValidationException"


def _error(code: str, message: str) -> AcmError:
    return AcmError(message, code=code)


def _blob(params: Params, name: str) -> bytes:
    """boto3 and the CLI send blobs base64-encoded in JSON."""
    value = params.get(name)
    if not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _error("ValidationException", f"{name} is not valid base64.") from None


def _check_arn(arn: str) -> None:
    if not arn.startswith("arn:") or ":acm:" not in arn or ":certificate/" not in arn:
        raise _error("InvalidArnException", f"String '{arn}' is not a valid ARN.")


def _get(tx: Tx, arn: str) -> dict[str, Any]:
    _check_arn(arn)
    doc = tx.get(Kind.CERTIFICATE, arn)
    if doc is None:
        raise _error("ResourceNotFoundException", f"Could not find certificate {arn}.")
    return doc


def _check_tags(tags: list[dict[str, Any]]) -> None:
    keys = [tag["Key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise _error("InvalidParameterException", "A tag key can appear only once in Tags.")
    for tag in tags:
        if tag["Key"].lower().startswith("aws:"):
            raise _error(
                "InvalidTagException", f"Tag key '{tag['Key']}' uses the reserved prefix 'aws:'."
            )


def _put_tags(tx: Tx, arn: str, tags: list[dict[str, Any]]) -> None:
    _check_tags(tags)
    keys = {t["key"] for t in tx.get_tags(arn)} | {t["Key"] for t in tags}
    if len(keys) > MAX_TAGS:
        raise _error("TooManyTagsException", f"A certificate can have at most {MAX_TAGS} tags.")
    tx.put_tags(arn, [{"key": t["Key"], "value": t.get("Value", "")} for t in tags])


def _document(arn: str, parsed: Parsed, created: float, now: float) -> dict[str, Any]:
    return {
        "CertificateArn": arn,
        "DomainName": parsed.domain_name,
        "SubjectAlternativeNames": list(parsed.alternative_names),
        "Serial": parsed.serial,
        "Subject": parsed.subject,
        "Issuer": parsed.issuer,
        "CreatedAt": created,
        "ImportedAt": now,
        "NotBefore": parsed.not_before,
        "NotAfter": parsed.not_after,
        "KeyAlgorithm": parsed.key_algorithm,
        "SignatureAlgorithm": parsed.signature_algorithm,
        "Type": "IMPORTED",
        "RenewalEligibility": "INELIGIBLE",
        "DomainValidationOptions": [],
        "Options": {"CertificateTransparencyLoggingPreference": "DISABLED"},
        # Kept for GetCertificate and HAProxy's files; never the private key.
        "_Certificate": parsed.certificate_pem,
        "_CertificateChain": parsed.chain_pem,
        "_Fingerprint": parsed.fingerprint,
        "_PemSha256": files.material_digest(parsed.certificate_pem, parsed.chain_pem),
    }


def import_certificate(ctx: ApiContext, params: Params) -> Result:
    try:
        parsed = parse_import(
            _blob(params, "Certificate"),
            _blob(params, "PrivateKey"),
            _blob(params, "CertificateChain"),
        )
    except PemError as exc:
        raise _error("ValidationException", str(exc)) from None
    arn, tags = params.get("CertificateArn"), params.get("Tags", [])
    if arn and tags:
        raise _error(
            "InvalidParameterException", "Tags cannot be given when re-importing a certificate."
        )
    with ctx.store.transaction() as tx:
        now = ctx.now()
        if arn:
            old = _get(tx, arn)
            doc = _document(arn, parsed, old["CreatedAt"], now)
            tx.update(Kind.CERTIFICATE, arn, doc, domain_name=parsed.domain_name)
            used = bool(in_use_by(tx, arn))
        else:
            arn = ctx.identity.arn("acm", f"certificate/{new_id()}")
            doc = _document(arn, parsed, now, now)
            tx.insert(Kind.CERTIFICATE, arn, doc, domain_name=parsed.domain_name)
            _put_tags(tx, arn, tags)
            used = False
        keys.put_key(tx, arn, parsed.key_pem)  # the leader's LB controller writes the files
    log.info("certificate %s imported for %s", arn, parsed.domain_name)
    if used:
        ctx.lb_changed()  # HAProxy reloads with the new certificate
    return {"CertificateArn": arn}


def _detail(doc: dict[str, Any], now: float, used_by: list[str]) -> dict[str, Any]:
    detail = {k: v for k, v in doc.items() if not k.startswith("_")}
    detail["Status"] = status(doc["NotAfter"], now)
    detail["InUseBy"] = used_by
    return detail


def describe_certificate(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = _get(tx, params["CertificateArn"])
        used_by = in_use_by(tx, doc["CertificateArn"])
        return {"Certificate": _detail(doc, ctx.now(), used_by)}


def _summary(detail: dict[str, Any]) -> dict[str, Any]:
    names = detail["SubjectAlternativeNames"]
    return {
        "CertificateArn": detail["CertificateArn"],
        "DomainName": detail["DomainName"],
        "SubjectAlternativeNameSummaries": names[:100],
        "HasAdditionalSubjectAlternativeNames": len(names) > 100,
        "Status": detail["Status"],
        "Type": "IMPORTED",
        "KeyAlgorithm": detail["KeyAlgorithm"],
        "InUse": bool(detail["InUseBy"]),
        "RenewalEligibility": "INELIGIBLE",
        "NotBefore": detail["NotBefore"],
        "NotAfter": detail["NotAfter"],
        "CreatedAt": detail["CreatedAt"],
        "ImportedAt": detail["ImportedAt"],
    }


def _page(params: Params) -> Page:
    limit = params.get("MaxItems", 1000)
    if not 1 <= limit <= 1000:
        raise _error("ValidationException", f"MaxItems must be between 1 and 1000; got {limit}.")
    token = params.get("NextToken")
    try:
        after = decode_token(token) if token else None
    except AwsError:
        raise _error("InvalidArgsException", "The NextToken is not valid.") from None
    return Page(after=after, limit=limit)


def list_certificates(ctx: ApiContext, params: Params) -> Result:
    page = _page(params)
    wanted = set(params.get("CertificateStatuses") or [])
    key_types = set((params.get("Includes") or {}).get("keyTypes") or [])
    with ctx.store.read() as tx:
        now = ctx.now()
        used = listeners_by_certificate(tx)
        details = [
            _detail(doc, now, used.get(doc["CertificateArn"], []))
            for doc in tx.find(Kind.CERTIFICATE)
        ]
    matching = [
        d
        for d in details
        if (not wanted or d["Status"] in wanted)
        and (not key_types or d["KeyAlgorithm"] in key_types)
    ]
    # Default Includes.keyTypes in ACM: RSA_1024, RSA_2048, EC_prime256v1 only.
    if not key_types:
        matching = [
            d for d in matching if d["KeyAlgorithm"] in ("RSA_1024", "RSA_2048", "EC_prime256v1")
        ]
    items, token = paginate_list(matching, page, lambda d: d["CertificateArn"])
    result: Result = {"CertificateSummaryList": [_summary(d) for d in items]}
    if token:
        result["NextToken"] = token
    return result


def get_certificate(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = _get(tx, params["CertificateArn"])
    result = {"Certificate": doc["_Certificate"]}
    if doc.get("_CertificateChain"):
        result["CertificateChain"] = doc["_CertificateChain"]
    return result


def delete_certificate(ctx: ApiContext, params: Params) -> Result:
    arn = params["CertificateArn"]
    with ctx.store.transaction() as tx:
        _get(tx, arn)
        if in_use_by(tx, arn):
            raise _error(
                "ResourceInUseException",
                f"Certificate {arn} is in use by a listener: remove it from the listener first.",
            )
        tx.delete(Kind.CERTIFICATE, arn)
        keys.delete_key(tx, arn)
        tx.delete_all_tags(arn)
    return {}  # the LB controller removes files no configuration names


def add_tags_to_certificate(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        _get(tx, params["CertificateArn"])
        _put_tags(tx, params["CertificateArn"], params["Tags"])
    return {}


def remove_tags_from_certificate(ctx: ApiContext, params: Params) -> Result:
    """A tag given with a Value is removed only when its value matches (ACM's rule)."""
    arn = params["CertificateArn"]
    with ctx.store.transaction() as tx:
        _get(tx, arn)
        _check_tags(params["Tags"])
        current = {t["key"]: t["value"] for t in tx.get_tags(arn)}
        keys = [
            t["Key"]
            for t in params["Tags"]
            if t["Key"] in current and ("Value" not in t or t["Value"] == current[t["Key"]])
        ]
        tx.remove_tags(arn, keys)
    return {}


def list_tags_for_certificate(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        _get(tx, params["CertificateArn"])
        tags = tx.get_tags(params["CertificateArn"])
    return {"Tags": [{"Key": t["key"], "Value": t["value"]} for t in tags]}


HANDLERS: dict[str, Handler] = {
    "ImportCertificate": import_certificate,
    "DescribeCertificate": describe_certificate,
    "ListCertificates": list_certificates,
    "GetCertificate": get_certificate,
    "DeleteCertificate": delete_certificate,
    "AddTagsToCertificate": add_tags_to_certificate,
    "RemoveTagsFromCertificate": remove_tags_from_certificate,
    "ListTagsForCertificate": list_tags_for_certificate,
}

ACM = JsonService(model_name="acm", handlers=HANDLERS, validation_error="ValidationException")
