"""Listener rules: CreateRule, DescribeRules, ModifyRule, SetRulePriorities, DeleteRule.

Rule rows: key = RuleArn, columns listener and priority ("1".."50000" or "default");
the document is the botocore Rule shape plus "ListenerArn". A listener's default
rule is a row too (Priority "default", IsDefault true, no conditions, Actions =
the listener's DefaultActions): it cannot be deleted, re-prioritized or given
conditions, and changing its actions changes the listener's DefaultActions.
TCP and TLS listeners (network load balancers) have their default rule only:
CreateRule on one is a ValidationError, as in ELB.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2.actions import normalize_actions
from dockyard.api.elbv2.conditions import normalize_conditions
from dockyard.api.elbv2.network import TCP_PROTOCOLS
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.api.elbv2.refs import get_listener, get_rule, notify_lb, rule_arn
from dockyard.api.elbv2.tags import check_tags, put_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    OperationNotPermitted,
    PriorityInUse,
    TooManyRules,
    ValidationError,
)
from dockyard.store import Kind, Tx

MAX_RULES = 100  # per load balancer, default rules not counted
MAX_PRIORITY = 50000


def insert_default_rule(tx: Tx, listener: str, actions: list[dict[str, Any]]) -> None:
    arn = rule_arn(listener)
    doc = {
        "RuleArn": arn,
        "Priority": "default",
        "Conditions": [],
        "Actions": actions,
        "IsDefault": True,
        "ListenerArn": listener,
    }
    tx.insert(Kind.RULE, arn, doc, listener=listener, priority="default")


def sync_default_rule(tx: Tx, listener: str, actions: list[dict[str, Any]]) -> None:
    for doc in tx.find(Kind.RULE, {"listener": listener, "priority": "default"}):
        doc["Actions"] = actions
        tx.update(Kind.RULE, doc["RuleArn"], doc)


def _check_priority(priority: int) -> None:
    if not 1 <= priority <= MAX_PRIORITY:
        raise ValidationError(f"Priority must be between 1 and {MAX_PRIORITY}; got {priority}")


def _priority_taken(tx: Tx, listener: str, priority: int) -> None:
    if tx.count(Kind.RULE, {"listener": listener, "priority": str(priority)}):
        raise PriorityInUse(f"Priority '{priority}' is currently in use")


def create_rule(ctx: ApiContext, params: Params) -> Result:
    priority = params["Priority"]
    _check_priority(priority)
    if params.get("Transforms"):
        raise ValidationError("Rule transforms are not supported")
    tags = params.get("Tags", [])
    check_tags(tags)
    conditions = normalize_conditions(params["Conditions"])
    with ctx.store.transaction() as tx:
        listener = get_listener(tx, params["ListenerArn"])
        listener_arn, lb_arn = listener["ListenerArn"], listener["LoadBalancerArn"]
        protocol = listener.get("Protocol", "HTTP")
        if protocol in TCP_PROTOCOLS:
            raise ValidationError(
                f"Listener rules are not supported for listeners with the protocol '{protocol}': "
                "a network load balancer's listener has its default action only"
            )
        actions = normalize_actions(tx, params["Actions"], lb_arn, protocol)
        _priority_taken(tx, listener_arn, priority)
        siblings = [doc["ListenerArn"] for doc in tx.find(Kind.LISTENER, {"load_balancer": lb_arn})]
        if tx.count(Kind.RULE, {"listener": siblings}) - len(siblings) >= MAX_RULES:
            raise TooManyRules(f"A load balancer can have at most {MAX_RULES} rules")
        arn = rule_arn(listener_arn)
        doc = {
            "RuleArn": arn,
            "Priority": str(priority),
            "Conditions": conditions,
            "Actions": actions,
            "IsDefault": False,
            "ListenerArn": listener_arn,
        }
        tx.insert(Kind.RULE, arn, doc, listener=listener_arn, priority=str(priority))
        put_tags(tx, arn, tags)
    notify_lb(ctx)
    return {"Rules": [doc]}


def _sort_key(doc: dict[str, Any]) -> str:
    order = MAX_PRIORITY + 1 if doc["IsDefault"] else int(doc["Priority"])
    return f"{order:05d}|{doc['RuleArn']}"


def describe_rules(ctx: ApiContext, params: Params) -> Result:
    listener, arns = params.get("ListenerArn"), params.get("RuleArns")
    if bool(listener) == bool(arns):
        raise ValidationError("Specify either a listener ARN or rule ARNs")
    page = page_of(params)
    with ctx.store.read() as tx:
        if listener:
            get_listener(tx, listener)
            docs = tx.find(Kind.RULE, {"listener": listener})
        else:
            docs = [get_rule(tx, arn) for arn in dict.fromkeys(arns or [])]
    items, marker = page_in_memory(sorted(docs, key=_sort_key), page, _sort_key)
    return answer("Rules", items, marker)


def modify_rule(ctx: ApiContext, params: Params) -> Result:
    if params.get("Transforms"):
        raise ValidationError("Rule transforms are not supported")
    with ctx.store.transaction() as tx:
        doc = get_rule(tx, params["RuleArn"])
        if "Conditions" in params:
            if doc["IsDefault"]:
                raise OperationNotPermitted("The default rule cannot have conditions")
            doc["Conditions"] = normalize_conditions(params["Conditions"])
        if "Actions" in params:
            listener = get_listener(tx, doc["ListenerArn"])
            doc["Actions"] = normalize_actions(
                tx, params["Actions"], listener["LoadBalancerArn"], listener.get("Protocol", "HTTP")
            )
            if doc["IsDefault"]:
                listener["DefaultActions"] = doc["Actions"]
                tx.update(Kind.LISTENER, listener["ListenerArn"], listener)
        tx.update(Kind.RULE, doc["RuleArn"], doc)
    notify_lb(ctx)
    return {"Rules": [doc]}


def set_rule_priorities(ctx: ApiContext, params: Params) -> Result:
    pairs = params["RulePriorities"]
    wanted: dict[str, int] = {}
    for pair in pairs:
        arn, priority = pair.get("RuleArn"), pair.get("Priority")
        if not arn or priority is None:
            raise ValidationError("Each rule priority pair needs a RuleArn and a Priority")
        if arn in wanted:
            raise ValidationError(f"Rule '{arn}' is listed more than once")
        _check_priority(priority)
        wanted[arn] = priority
    with ctx.store.transaction() as tx:
        docs = [get_rule(tx, arn) for arn in wanted]
        for doc in docs:
            if doc["IsDefault"]:
                raise OperationNotPermitted("The priority of a default rule cannot be changed")
        for listener in {doc["ListenerArn"] for doc in docs}:
            final = [
                wanted[doc["RuleArn"]] if doc["RuleArn"] in wanted else int(doc["Priority"])
                for doc in tx.find(Kind.RULE, {"listener": listener})
                if not doc["IsDefault"]
            ]
            taken: set[int] = set()
            for priority in final:
                if priority in taken:
                    raise PriorityInUse(f"Priority '{priority}' is currently in use")
                taken.add(priority)
        for doc in docs:
            doc["Priority"] = str(wanted[doc["RuleArn"]])
            tx.update(Kind.RULE, doc["RuleArn"], doc, priority=doc["Priority"])
    notify_lb(ctx)
    return {"Rules": docs}


def delete_rule(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = get_rule(tx, params["RuleArn"])
        if doc["IsDefault"]:
            raise OperationNotPermitted("A listener's default rule cannot be deleted")
        tx.delete_all_tags(doc["RuleArn"])
        tx.delete(Kind.RULE, doc["RuleArn"])
    notify_lb(ctx)
    return {}
