"""Listener and rule actions: check what a client sent, keep it in AWS's normalized form.

    forward         TargetGroupArn and/or ForwardConfig -> always ForwardConfig
                    (TargetGroups with Weight, TargetGroupStickinessConfig.Enabled),
                    plus TargetGroupArn when it forwards to one group, as AWS answers
    fixed-response  FixedResponseConfig {StatusCode 2XX/4XX/5XX, ContentType, MessageBody}
    redirect        RedirectConfig with AWS's #{protocol}/#{port}/#{host}/#{path}/#{query}
                    defaults filled in

Authenticate-* actions are refused; every list holds exactly one (terminal) action.
A target group serves one load balancer at most, and only listeners whose protocol
pairs with its own (network.check_compatible: IncompatibleProtocols). TCP and TLS
listeners (network load balancers) forward to one target group and do nothing else.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.api.elbv2.network import TCP_PROTOCOLS, check_compatible
from dockyard.api.elbv2.refs import get_target_group
from dockyard.elbv2.errors import (
    InvalidLoadBalancerAction,
    TargetGroupAssociationLimit,
    TooManyActions,
    ValidationError,
)
from dockyard.store import Kind, Tx

CONFIG_OF = {
    "forward": "ForwardConfig",
    "redirect": "RedirectConfig",
    "fixed-response": "FixedResponseConfig",
}
CONTENT_TYPES = {
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
}
FIXED_STATUS = re.compile(r"^[245]\d\d$")
REDIRECT_DEFAULTS = {
    "Protocol": "#{protocol}",
    "Port": "#{port}",
    "Host": "#{host}",
    "Path": "/#{path}",
    "Query": "#{query}",
}
MAX_TARGET_GROUPS = 5


def forwarded_groups(actions: list[dict[str, Any]]) -> list[str]:
    """The target group ARNs a list of (normalized) actions forwards to."""
    groups: list[str] = []
    for action in actions:
        if action.get("Type") == "forward":
            for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
                groups.append(group["TargetGroupArn"])
            if action.get("TargetGroupArn") and action["TargetGroupArn"] not in groups:
                groups.append(action["TargetGroupArn"])
    return groups


def target_group_users(tx: Tx) -> dict[str, set[str]]:
    """Target group ARN -> the load balancers whose listeners or rules forward to it."""
    listeners = tx.find_rows(Kind.LISTENER)
    lb_of = {row["arn"]: row["load_balancer"] for row in listeners}
    users: dict[str, set[str]] = {}
    for row in listeners:
        for group in forwarded_groups(row["doc"].get("DefaultActions", [])):
            users.setdefault(group, set()).add(row["load_balancer"])
    for row in tx.find_rows(Kind.RULE):
        lb = lb_of.get(row["listener"])
        for group in forwarded_groups(row["doc"].get("Actions", [])):
            if lb is not None:
                users.setdefault(group, set()).add(lb)
    return users


def load_balancers_of(tx: Tx, tg_arn: str) -> list[str]:
    """The load balancers that forward to a target group (its LoadBalancerArns)."""
    return sorted(target_group_users(tx).get(tg_arn, set()))


def normalize_actions(
    tx: Tx, actions: list[dict[str, Any]], lb_arn: str, protocol: str = "HTTP"
) -> list[dict[str, Any]]:
    """Validated copies of `actions` for a listener (or rule) of protocol `protocol` of load
    balancer `lb_arn`."""
    if not actions:
        raise ValidationError("At least one action must be specified")
    for action in actions:
        if action["Type"].startswith("authenticate-") or action["Type"] == "jwt-validation":
            raise InvalidLoadBalancerAction(
                f"Action type '{action['Type']}' is supported only on HTTPS listeners"
            )
    if len(actions) > 1:
        raise TooManyActions(
            "A listener or rule can have one forward, redirect or fixed-response action"
        )
    out = []
    for index, action in enumerate(actions, 1):
        kind = action["Type"]
        if kind not in CONFIG_OF:
            raise ValidationError(f"Action type '{kind}' must be one of {', '.join(CONFIG_OF)}")
        if protocol in TCP_PROTOCOLS and kind != "forward":
            raise InvalidLoadBalancerAction(
                f"Action type '{kind}' is not supported for listeners with the protocol "
                f"'{protocol}': network load balancers forward to a target group only"
            )
        for other in ("ForwardConfig", "RedirectConfig", "FixedResponseConfig"):
            if other != CONFIG_OF[kind] and action.get(other) is not None:
                raise ValidationError(f"{other} cannot be specified for action type '{kind}'")
        if kind != "forward" and action.get("TargetGroupArn"):
            raise ValidationError(f"TargetGroupArn cannot be specified for action type '{kind}'")
        order = action.get("Order", index)
        if not 1 <= order <= 50000:
            raise ValidationError(f"Action order must be between 1 and 50000; got {order}")
        if kind == "forward":
            normalized = _forward(tx, action, lb_arn, protocol)
        elif kind == "redirect":
            normalized = _redirect(action.get("RedirectConfig"))
        else:
            normalized = _fixed_response(action.get("FixedResponseConfig"))
        normalized["Order"] = order
        out.append(normalized)
    return out


def _forward(tx: Tx, action: dict[str, Any], lb_arn: str, protocol: str) -> dict[str, Any]:
    arn = action.get("TargetGroupArn")
    config = action.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    if not arn and not groups:
        raise ValidationError("A forward action needs a TargetGroupArn or a ForwardConfig")
    if arn and groups and [g.get("TargetGroupArn") for g in groups] != [arn]:
        raise ValidationError(
            "With both TargetGroupArn and ForwardConfig, ForwardConfig must name that one "
            "target group only"
        )
    groups = groups or [{"TargetGroupArn": arn}]
    network = protocol in TCP_PROTOCOLS
    if network and len(groups) > 1:
        raise ValidationError(
            "You cannot specify multiple target groups in a single action with a load "
            "balancer of type 'network'"
        )
    if len(groups) > MAX_TARGET_GROUPS:
        raise ValidationError(
            f"A forward action can have at most {MAX_TARGET_GROUPS} target groups"
        )
    users = target_group_users(tx)
    tuples, seen = [], set()
    for group in groups:
        group_arn = group.get("TargetGroupArn")
        if not group_arn:
            raise ValidationError("Each target group of a forward action needs a TargetGroupArn")
        if group_arn in seen:
            raise ValidationError(f"Target group '{group_arn}' is listed more than once")
        seen.add(group_arn)
        check_compatible(protocol, get_target_group(tx, group_arn))
        if users.get(group_arn, set()) - {lb_arn}:
            raise TargetGroupAssociationLimit(
                f"The target group '{group_arn}' is already used by another load balancer; "
                "a target group can be associated with one load balancer"
            )
        weight = group.get("Weight", 1)
        if not 0 <= weight <= 999:
            raise ValidationError(f"Target group weight must be between 0 and 999; got {weight}")
        tuples.append({"TargetGroupArn": group_arn, "Weight": weight})
    sticky = config.get("TargetGroupStickinessConfig") or {}
    stickiness: dict[str, Any] = {"Enabled": bool(sticky.get("Enabled", False))}
    if stickiness["Enabled"] and network:
        raise ValidationError(
            "Target group stickiness cannot be specified for a load balancer of type 'network'"
        )
    if stickiness["Enabled"]:
        duration = sticky.get("DurationSeconds")
        if duration is None or not 1 <= duration <= 604800:
            raise ValidationError(
                "Target group stickiness needs DurationSeconds between 1 and 604800"
            )
        stickiness["DurationSeconds"] = duration
    out: dict[str, Any] = {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": tuples, "TargetGroupStickinessConfig": stickiness},
    }
    if len(tuples) == 1:
        out["TargetGroupArn"] = tuples[0]["TargetGroupArn"]
    return out


def _redirect(config: dict[str, Any] | None) -> dict[str, Any]:
    if not config:
        raise ValidationError("A redirect action needs a RedirectConfig")
    if config.get("StatusCode") not in {"HTTP_301", "HTTP_302"}:
        raise ValidationError("Redirect StatusCode must be HTTP_301 or HTTP_302")
    out = {key: config.get(key) or default for key, default in REDIRECT_DEFAULTS.items()}
    if out["Protocol"] not in {"HTTP", "HTTPS", "#{protocol}"}:
        raise ValidationError("Redirect Protocol must be HTTP, HTTPS or #{protocol}")
    port = out["Port"]
    if port != "#{port}" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationError("Redirect Port must be between 1 and 65535 or #{port}")
    if not out["Path"].startswith("/"):
        raise ValidationError("Redirect Path must start with '/'")
    if out["Query"].startswith("?"):
        raise ValidationError("Redirect Query must not start with '?'")
    for key in ("Host", "Path", "Query"):
        if len(out[key]) > 128:
            raise ValidationError(f"Redirect {key} cannot be longer than 128 characters")
    if out == REDIRECT_DEFAULTS:
        raise InvalidLoadBalancerAction(
            "The redirect configuration is not valid because it creates a loop."
        )
    out["StatusCode"] = config["StatusCode"]
    return {"Type": "redirect", "RedirectConfig": out}


def _fixed_response(config: dict[str, Any] | None) -> dict[str, Any]:
    if not config:
        raise ValidationError("A fixed-response action needs a FixedResponseConfig")
    if not FIXED_STATUS.match(config.get("StatusCode", "")):
        raise ValidationError("Fixed response StatusCode must be a 2XX, 4XX or 5XX code")
    if "ContentType" in config and config["ContentType"] not in CONTENT_TYPES:
        raise ValidationError(
            f"Fixed response ContentType must be one of {', '.join(sorted(CONTENT_TYPES))}"
        )
    if len(config.get("MessageBody", "")) > 1024:
        raise ValidationError("Fixed response MessageBody cannot be longer than 1024 characters")
    keep = ("StatusCode", "ContentType", "MessageBody")
    return {
        "Type": "fixed-response",
        "FixedResponseConfig": {k: config[k] for k in keep if k in config},
    }
