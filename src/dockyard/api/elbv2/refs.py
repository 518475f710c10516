"""ELBv2 ARNs and lookups: the ARNs AWS issues, and "fetch it or raise its NotFound".

loadbalancer/app/<name>/<16 hex>                       (network: loadbalancer/net/...)
listener/app/<lb name>/<lb id>/<16 hex>                (net/ for a network load balancer's)
listener-rule/app/<lb name>/<lb id>/<listener id>/<16 hex>
targetgroup/<name>/<16 hex>
truststore/<name>/<16 hex>
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from dockyard.arns import Identity, parse_arn
from dockyard.elbv2.errors import (
    ElbError,
    ListenerNotFound,
    LoadBalancerNotFound,
    RuleNotFound,
    TargetGroupNotFound,
    TrustStoreNotFound,
    ValidationError,
)
from dockyard.store import Kind, Tx

SERVICE = "elasticloadbalancing"
NAME = re.compile(r"^[A-Za-z0-9-]+$")
MAX_NAME = 32

# ARN resource type -> (store kind, its NotFound error, its name in messages)
KINDS: dict[str, tuple[Kind, type[ElbError], str]] = {
    "loadbalancer": (Kind.LOAD_BALANCER, LoadBalancerNotFound, "load balancer"),
    "targetgroup": (Kind.TARGET_GROUP, TargetGroupNotFound, "target group"),
    "listener": (Kind.LISTENER, ListenerNotFound, "listener"),
    "listener-rule": (Kind.RULE, RuleNotFound, "rule"),
    "truststore": (Kind.TRUST_STORE, TrustStoreNotFound, "trust store"),
}


def check_name(name: str, noun: str) -> None:
    """AWS's naming rules for load balancers and target groups."""
    if len(name) > MAX_NAME:
        raise ValidationError(f"{noun} name '{name}' cannot be longer than '{MAX_NAME}' characters")
    if not NAME.match(name):
        raise ValidationError(
            f"{noun} name '{name}' can only contain characters that are alphanumeric "
            "characters or hyphens(-)"
        )
    if name.startswith("-") or name.endswith("-"):
        raise ValidationError(f"{noun} name '{name}' cannot begin or end with '-'")


def _new_id() -> str:
    return secrets.token_hex(8)


def load_balancer_arn(identity: Identity, name: str, lb_type: str = "application") -> str:
    """ELB's ARNs say the type: loadbalancer/app/... or loadbalancer/net/..."""
    prefix = "net" if lb_type == "network" else "app"
    return identity.arn(SERVICE, f"loadbalancer/{prefix}/{name}/{_new_id()}")


def target_group_arn(identity: Identity, name: str) -> str:
    return identity.arn(SERVICE, f"targetgroup/{name}/{_new_id()}")


def listener_arn(lb_arn: str) -> str:
    return lb_arn.replace(":loadbalancer/", ":listener/", 1) + "/" + _new_id()


def rule_arn(listener: str) -> str:
    return listener.replace(":listener/", ":listener-rule/", 1) + "/" + _new_id()


def trust_store_arn(identity: Identity, name: str) -> str:
    return identity.arn(SERVICE, f"truststore/{name}/{_new_id()}")


def resource_type(arn: str) -> str:
    """`loadbalancer`, `targetgroup`, `listener`, `listener-rule` or `truststore`;
    ValidationError otherwise."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != SERVICE or parsed.resource_type not in KINDS:
        raise ValidationError(f"'{arn}' is not a valid Elastic Load Balancing resource ARN")
    return parsed.resource_type


def _get(tx: Tx, arn: str, expected: str) -> dict[str, Any]:
    kind, not_found, noun = KINDS[expected]
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != SERVICE or parsed.resource_type != expected:
        raise ValidationError(f"'{arn}' is not a valid {noun} ARN")
    doc = tx.get(kind, arn)
    if doc is None:
        raise not_found()
    return doc


def get_resource(tx: Tx, arn: str) -> dict[str, Any]:
    """Any ELBv2 resource by ARN (for tags), raising the NotFound of its type."""
    return _get(tx, arn, resource_type(arn))


def get_load_balancer(tx: Tx, arn: str) -> dict[str, Any]:
    return _get(tx, arn, "loadbalancer")


def get_target_group(tx: Tx, arn: str) -> dict[str, Any]:
    return _get(tx, arn, "targetgroup")


def get_listener(tx: Tx, arn: str) -> dict[str, Any]:
    return _get(tx, arn, "listener")


def get_rule(tx: Tx, arn: str) -> dict[str, Any]:
    return _get(tx, arn, "listener-rule")


def get_trust_store(tx: Tx, arn: str) -> dict[str, Any]:
    return _get(tx, arn, "truststore")


def notify_lb(ctx: object) -> None:
    """Wake the LB controller after a commit that changed what HAProxy must do."""
    hook = getattr(ctx, "lb_changed", None)
    if callable(hook):
        hook()
