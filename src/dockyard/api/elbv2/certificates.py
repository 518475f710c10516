"""HTTPS listener certificates and SSL policies: AddListenerCertificates,
RemoveListenerCertificates, DescribeListenerCertificates, DescribeSSLPolicies.

The default certificate is the listener's `Certificates` field (CreateListener /
ModifyListener); the others live in the listener document beside it
(`dockyard.acm.usage.ADDITIONAL_CERTIFICATES`) and HAProxy picks among them by SNI.
Certificates are ACM's (api/acm): one that does not exist is CertificateNotFound.
"""

from __future__ import annotations

from typing import Any

from dockyard.acm.policies import DEFAULT_POLICY, POLICIES, policy
from dockyard.acm.usage import ADDITIONAL_CERTIFICATES
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.api.elbv2.refs import get_listener, notify_lb
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    CertificateNotFound,
    OperationNotPermitted,
    SSLPolicyNotFound,
    TooManyCertificates,
    ValidationError,
)
from dockyard.store import Kind, Tx

MAX_CERTIFICATES = 25  # ELB's default quota of certificates per listener (default excluded)


def _existing(tx: Tx, arn: str) -> str:
    if tx.get(Kind.CERTIFICATE, arn) is None:
        raise CertificateNotFound(f"Certificate '{arn}' not found")
    return arn


def apply_tls(tx: Tx, doc: dict[str, Any], params: Params) -> None:
    """Set (or, for HTTP/TCP, clear) an HTTPS or TLS listener's default certificate and
    SslPolicy."""
    if doc["Protocol"] not in ("HTTPS", "TLS"):
        for key in ("Certificates", "SslPolicy", ADDITIONAL_CERTIFICATES):
            doc.pop(key, None)
        return
    if "Certificates" in params:
        given = [c.get("CertificateArn") for c in params["Certificates"]]
        if len(given) != 1 or not given[0]:
            raise ValidationError(
                f"An {doc['Protocol']} listener takes exactly one default certificate"
            )
        doc["Certificates"] = [{"CertificateArn": _existing(tx, given[0])}]
    if not doc.get("Certificates"):
        raise ValidationError(f"A certificate must be specified for {doc['Protocol']} listeners")
    name = params.get("SslPolicy") or doc.get("SslPolicy") or DEFAULT_POLICY
    if policy(name) is None:
        raise SSLPolicyNotFound(f"SSL policy '{name}' not found")
    doc["SslPolicy"] = name


def _https_listener(tx: Tx, arn: str) -> dict[str, Any]:
    doc = get_listener(tx, arn)
    if doc.get("Protocol") not in ("HTTPS", "TLS"):
        raise ValidationError("Listener certificates apply to HTTPS and TLS listeners only")
    return doc


def add_listener_certificates(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = _https_listener(tx, params["ListenerArn"])
        extra = list(doc.get(ADDITIONAL_CERTIFICATES, []))
        for certificate in params["Certificates"]:
            arn = _existing(tx, certificate.get("CertificateArn") or "")
            if arn not in extra:
                extra.append(arn)
        if len(extra) > MAX_CERTIFICATES:
            raise TooManyCertificates(
                f"A listener can have at most {MAX_CERTIFICATES} certificates besides its default"
            )
        doc[ADDITIONAL_CERTIFICATES] = extra
        tx.update(Kind.LISTENER, doc["ListenerArn"], doc)
    notify_lb(ctx)
    return {"Certificates": [{"CertificateArn": arn, "IsDefault": False} for arn in extra]}


def remove_listener_certificates(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = _https_listener(tx, params["ListenerArn"])
        default = [c["CertificateArn"] for c in doc.get("Certificates", [])]
        gone = {c.get("CertificateArn") for c in params["Certificates"]}
        if gone & set(default):
            raise OperationNotPermitted(
                "The default certificate cannot be removed: use ModifyListener to replace it"
            )
        doc[ADDITIONAL_CERTIFICATES] = [
            a for a in doc.get(ADDITIONAL_CERTIFICATES, []) if a not in gone
        ]
        tx.update(Kind.LISTENER, doc["ListenerArn"], doc)
    notify_lb(ctx)
    return {}


def describe_listener_certificates(ctx: ApiContext, params: Params) -> Result:
    """The default certificate (IsDefault true) and the SNI ones, as ELB lists them."""
    page = page_of(params)
    with ctx.store.read() as tx:
        doc = get_listener(tx, params["ListenerArn"])
    items = [
        {"CertificateArn": c["CertificateArn"], "IsDefault": True}
        for c in doc.get("Certificates", [])
    ]
    items += [
        {"CertificateArn": a, "IsDefault": False} for a in doc.get(ADDITIONAL_CERTIFICATES, [])
    ]
    ordered = sorted(items, key=lambda c: (not c["IsDefault"], c["CertificateArn"]))
    keyed = [(f"{i:05d}", c) for i, c in enumerate(ordered)]
    page_items, marker = page_in_memory(keyed, page, lambda pair: pair[0])
    return answer("Certificates", [c for _, c in page_items], marker)


def describe_ssl_policies(ctx: ApiContext, params: Params) -> Result:
    names = params.get("Names") or sorted(POLICIES)
    missing = [n for n in names if n not in POLICIES]
    if missing:
        raise SSLPolicyNotFound(f"SSL policy '{missing[0]}' not found")
    if params.get("LoadBalancerType") not in (None, "application", "network"):
        names = []  # the policies here serve application and network load balancers
    page = page_of(params)
    items, marker = page_in_memory(list(dict.fromkeys(names)), page, lambda name: name)
    return answer("SslPolicies", [POLICIES[n].describe() for n in items], marker)
