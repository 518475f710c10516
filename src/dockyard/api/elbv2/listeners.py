"""Listeners: CreateListener, DescribeListeners, ModifyListener, DeleteListener.

HTTP and HTTPS on application load balancers, TCP and TLS on network ones (network.py);
HTTPS and TLS are terminated by HAProxy with an ACM certificate: `Certificates` names the
default one, AddListenerCertificates adds SNI ones, see certificates.py; `SslPolicy` is
one of ELB's predefined policies, ELBSecurityPolicy-2016-08 by default; a TLS listener
takes an `AlpnPolicy` (none by default).
Every load balancer's DNSName is the one address HAProxy binds, so a port serves
one listener across all load balancers (DuplicateListener otherwise).
Each listener owns a default rule row (Priority "default", IsDefault true) whose
Actions mirror the listener's DefaultActions; deleting a listener deletes its rules.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2 import settings
from dockyard.api.elbv2.actions import normalize_actions
from dockyard.api.elbv2.certificates import apply_tls
from dockyard.api.elbv2.mutual_authentication import apply_mutual_authentication
from dockyard.api.elbv2.network import check_alpn, check_listener_protocol, is_network
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.api.elbv2.refs import get_listener, get_load_balancer, listener_arn, notify_lb
from dockyard.api.elbv2.rules import insert_default_rule, sync_default_rule
from dockyard.api.elbv2.tags import check_tags, put_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    DuplicateListener,
    InvalidConfigurationRequest,
    TooManyListeners,
    ValidationError,
)
from dockyard.store import Kind, Tx

MAX_LISTENERS = 50


def _check(params: Params, load_balancer: dict[str, Any], current: dict[str, Any] | None) -> str:
    """Validate what the request sets; returns the listener's protocol after it."""
    network = is_network(load_balancer)
    default = "TCP" if network else "HTTP"
    protocol = str(params.get("Protocol") or (current or {}).get("Protocol", default))
    check_listener_protocol(protocol, network)
    check_alpn(params.get("AlpnPolicy"), protocol)
    if protocol in ("HTTP", "TCP") and (params.get("Certificates") or params.get("SslPolicy")):
        raise InvalidConfigurationRequest("Certificates and SSL policies need HTTPS or TLS")
    port = params.get("Port")
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError(f"Listener port must be between 1 and 65535; got {port}")
    return protocol


def _apply_alpn(doc: dict[str, Any], params: Params) -> None:
    """AlpnPolicy is a TLS listener's (kept across modifications that do not name it)."""
    if doc["Protocol"] != "TLS":
        doc.pop("AlpnPolicy", None)
    elif params.get("AlpnPolicy"):
        doc["AlpnPolicy"] = list(params["AlpnPolicy"])


def _port_taken(tx: Tx, port: int, lb_arn: str, listener: str | None) -> None:
    for other in tx.find(Kind.LISTENER, {"port": port}):
        if other["ListenerArn"] == listener:
            continue
        if other["LoadBalancerArn"] == lb_arn:
            raise DuplicateListener()
        raise DuplicateListener(
            f"Port {port} is used by a listener of load balancer '{other['LoadBalancerArn']}': "
            f"all load balancers share the address {settings.BIND_ADDRESS}"
        )


def create_listener(ctx: ApiContext, params: Params) -> Result:
    if params.get("Port") is None:
        raise ValidationError("A listener port must be specified")
    port, lb_arn = params["Port"], params["LoadBalancerArn"]
    tags = params.get("Tags", [])
    check_tags(tags)
    with ctx.store.transaction() as tx:
        protocol = _check(params, get_load_balancer(tx, lb_arn), None)
        actions = normalize_actions(tx, params["DefaultActions"], lb_arn, protocol)
        for same in tx.find(Kind.LISTENER, {"load_balancer": lb_arn, "port": port}):
            if same["DefaultActions"] == actions:
                return {"Listeners": [same]}  # the same listener again: AWS is idempotent
        _port_taken(tx, port, lb_arn, None)
        if tx.count(Kind.LISTENER, {"load_balancer": lb_arn}) >= MAX_LISTENERS:
            raise TooManyListeners(f"A load balancer can have at most {MAX_LISTENERS} listeners")
        arn = listener_arn(lb_arn)
        doc = {
            "ListenerArn": arn,
            "LoadBalancerArn": lb_arn,
            "Port": port,
            "Protocol": protocol,
            "DefaultActions": actions,
        }
        apply_tls(tx, doc, params)
        _apply_alpn(doc, params)
        apply_mutual_authentication(tx, doc, params)
        tx.insert(Kind.LISTENER, arn, doc, load_balancer=lb_arn, port=port)
        insert_default_rule(tx, arn, actions)
        put_tags(tx, arn, tags)
    notify_lb(ctx)
    return {"Listeners": [doc]}


def _sort_key(doc: dict[str, Any]) -> str:
    return f"{doc['Port']:05d}|{doc['ListenerArn']}"


def describe_listeners(ctx: ApiContext, params: Params) -> Result:
    lb_arn, arns = params.get("LoadBalancerArn"), params.get("ListenerArns")
    if bool(lb_arn) == bool(arns):
        raise ValidationError("Specify either a load balancer ARN or listener ARNs")
    page = page_of(params)
    with ctx.store.read() as tx:
        if lb_arn:
            get_load_balancer(tx, lb_arn)
            docs = tx.find(Kind.LISTENER, {"load_balancer": lb_arn})
        else:
            docs = [get_listener(tx, arn) for arn in dict.fromkeys(arns or [])]
    items, marker = page_in_memory(sorted(docs, key=_sort_key), page, _sort_key)
    return answer("Listeners", items, marker)


def modify_listener(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = get_listener(tx, params["ListenerArn"])
        arn, lb_arn = doc["ListenerArn"], doc["LoadBalancerArn"]
        protocol = _check(params, get_load_balancer(tx, lb_arn), doc)
        columns: dict[str, Any] = {}
        if "Port" in params and params["Port"] != doc["Port"]:
            _port_taken(tx, params["Port"], lb_arn, arn)
            doc["Port"] = columns["port"] = params["Port"]
        if "DefaultActions" in params or protocol != doc["Protocol"]:
            # a new protocol must still pair with the groups it forwards to
            actions = params.get("DefaultActions") or doc["DefaultActions"]
            doc["DefaultActions"] = normalize_actions(tx, actions, lb_arn, protocol)
            sync_default_rule(tx, arn, doc["DefaultActions"])
        doc["Protocol"] = protocol
        apply_tls(tx, doc, params)
        _apply_alpn(doc, params)
        apply_mutual_authentication(tx, doc, params)
        tx.update(Kind.LISTENER, arn, doc, **columns)
    notify_lb(ctx)
    return {"Listeners": [doc]}


def delete_listener_tree(tx: Tx, arn: str) -> None:
    """Delete a listener, its rules (the default one too) and their tags."""
    for rule in tx.find(Kind.RULE, {"listener": arn}):
        tx.delete_all_tags(rule["RuleArn"])
        tx.delete(Kind.RULE, rule["RuleArn"])
    tx.delete_all_tags(arn)
    tx.delete(Kind.LISTENER, arn)


def delete_listener(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        get_listener(tx, params["ListenerArn"])
        delete_listener_tree(tx, params["ListenerArn"])
    notify_lb(ctx)
    return {}
