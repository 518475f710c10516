"""Finding services by name or ARN, in either ARN format, and claiming a name for a new one.

A service's ARN is `service/<cluster>/<name>`, or AWS's older `service/<name>` when the
creator's serviceLongArnFormat setting is disabled (dockyard.accounts). Services are keyed
by ARN in the store; a lookup takes the name from whatever it is given (a name, a long
or a short ARN) and tries the long ARN, then the short one (whose row must be this
cluster's: short ARNs carry no cluster). A live service wins over an INACTIVE one of the
same name in the other format. Neighbours: `services.py` (the operations) and
`external_services.py` (EXTERNAL services) claim names here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.accounts.records import long_arn_format
from dockyard.arns import ref_name, scoped_arns
from dockyard.context import ApiContext
from dockyard.errors import InvalidParameterException
from dockyard.services import history_records
from dockyard.store import Kind, Tx


def service_name(ref: str) -> str:
    """The name in a service name or ARN (long or short)."""
    name = ref_name(ref, "service")
    if name is None:
        raise InvalidParameterException(f"'{ref}' is not a service ARN.")
    return name


def find_service(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], ref: str
) -> dict[str, Any] | None:
    """The service `ref` names in this cluster (live first), or None. One `tx.get` for a
    live service of the long format, two otherwise."""
    found = None
    for arn in scoped_arns(ctx.identity, "service", cluster["clusterName"], service_name(ref)):
        doc = tx.get(Kind.SERVICE, arn)
        if doc is None or doc["clusterArn"] != cluster["clusterArn"]:
            continue
        if doc["status"] != "INACTIVE":
            return doc
        found = found or doc
    return found


def missing_arn(ctx: ApiContext, cluster: dict[str, Any], ref: str) -> str:
    """The ARN a DescribeServices failure names for a service that is not there."""
    return ctx.identity.ecs_scoped("service", cluster["clusterName"], service_name(ref))


@dataclass(frozen=True, slots=True)
class Claim:
    """A new service's ARN, and whether a row (an INACTIVE service's) is there to reuse."""

    arn: str
    existing: bool


def reuse_name(ctx: ApiContext, tx: Tx, cluster: dict[str, Any], name: str) -> Claim:
    """CreateService's check of the name: refused while a service of that name is ACTIVE
    or DRAINING in the cluster. The new service's ARN follows the caller's
    serviceLongArnFormat now. INACTIVE services of that name (in either format) and
    their history go: the one at the new ARN is taken over, another is removed.

    Short ARNs are not unique across clusters (AWS's reason for the long format): while
    a live service of another cluster holds the short ARN, creation is refused."""
    existing = find_service(ctx, tx, cluster, name)
    if existing is not None and existing["status"] != "INACTIVE":
        raise InvalidParameterException("Creation of service was not idempotent.")
    long = long_arn_format(tx, ctx.identity, "service")
    arn = ctx.identity.ecs_scoped("service", cluster["clusterName"], name, long=long)
    same = existing is not None and existing["serviceArn"] == arn
    holder = existing if same else tx.get(Kind.SERVICE, arn)
    if holder is not None and holder["status"] != "INACTIVE":
        raise InvalidParameterException(
            f"The service ARN {arn} is held by the service {name} of the cluster "
            f"{holder['clusterArn']}: service ARNs in the short format do not name the "
            "cluster. Enable the serviceLongArnFormat account setting or choose another name."
        )
    for old in {d["serviceArn"]: d for d in (existing, holder) if d is not None}.values():
        history_records.forget(tx, old["serviceArn"])
        if old["serviceArn"] != arn:
            tx.delete(Kind.SERVICE, old["serviceArn"])
            tx.delete_all_tags(old["serviceArn"])
    return Claim(arn, existing=holder is not None)
