"""A listener's MutualAuthentication (CreateListener / ModifyListener / DescribeListeners).

Modes as ELB's Application Load Balancers: `off` (the default), `verify` (the client
must present a certificate that chains to the trust store's CA bundle and is not in its
CRLs; HAProxy `verify required`) and `passthrough` (any client certificate, or none,
is accepted and forwarded to the targets in X-Amzn-Mtls-Clientcert). HTTPS listeners
only. How HAProxy does it: `dockyard.lb.mtls`.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2.refs import get_trust_store
from dockyard.context import Params
from dockyard.elbv2.errors import TrustStoreNotReady, ValidationError
from dockyard.store import Tx

FIELD = "MutualAuthentication"
MODES = ("off", "passthrough", "verify")


def apply_mutual_authentication(tx: Tx, doc: dict[str, Any], params: Params) -> None:
    """Set the listener document's MutualAuthentication from the request (a given one
    replaces the old one whole), or drop it when the listener is not HTTPS."""
    given = params.get(FIELD)
    if doc.get("Protocol") != "HTTPS":
        if given is not None and given.get("Mode", "off") != "off":
            raise ValidationError(
                f"Mutual authentication is not supported for {doc.get('Protocol')} listeners: "
                "use an HTTPS listener"
            )
        doc.pop(FIELD, None)
        return
    if given is None:
        return
    doc[FIELD] = _normalized(tx, given)


def _normalized(tx: Tx, given: dict[str, Any]) -> dict[str, Any]:
    mode = given.get("Mode") or "off"
    if mode not in MODES:
        raise ValidationError(
            f"Mutual authentication mode '{mode}' is not valid: use one of {', '.join(MODES)}"
        )
    if given.get("ClientCertificateIdentityFilters"):
        raise ValidationError(
            "Client certificate identity filters apply to Network Load Balancers only"
        )
    advertise = given.get("AdvertiseTrustStoreCaNames") or "off"
    if advertise not in ("on", "off"):
        raise ValidationError("AdvertiseTrustStoreCaNames must be 'on' or 'off'")
    if mode != "verify":
        extras = [
            name
            for name in ("TrustStoreArn", "IgnoreClientCertificateExpiry")
            if given.get(name) not in (None, "", False)
        ]
        if advertise == "on":
            extras.append("AdvertiseTrustStoreCaNames")
        if extras:
            raise ValidationError(
                f"{', '.join(extras)} can only be specified with mutual authentication "
                f"mode 'verify', not '{mode}'"
            )
        return {"Mode": mode}
    arn = given.get("TrustStoreArn")
    if not arn:
        raise ValidationError("A trust store ARN must be specified for mode 'verify'")
    store = get_trust_store(tx, arn)
    if store.get("Status") != "ACTIVE":
        raise TrustStoreNotReady(f"Trust store '{arn}' is not active")
    return {
        "Mode": "verify",
        "TrustStoreArn": arn,
        "IgnoreClientCertificateExpiry": bool(given.get("IgnoreClientCertificateExpiry", False)),
        "TrustStoreAssociationStatus": "active",
        "AdvertiseTrustStoreCaNames": advertise,
    }
