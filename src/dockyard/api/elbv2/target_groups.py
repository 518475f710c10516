"""Target groups: Create/Describe/Modify/DeleteTargetGroup and their attributes.

HTTP target groups (application load balancers) and TCP/TLS ones (network load
balancers: network.py) of instance or ip targets, health-checked over HTTP (HAProxy's
`option httpchk`) or, for TCP/TLS groups, by a TCP connect (health_checks.py).
LoadBalancerArns is not stored: it is derived on each read from the listeners and
rules that forward to the group (`actions.load_balancers_of`).
As in AWS, creating a group that exists with the same settings returns it, and
deleting one that does not exist succeeds.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2 import attributes
from dockyard.api.elbv2.account import check_target_group_quota
from dockyard.api.elbv2.actions import target_group_users
from dockyard.api.elbv2.health_checks import HTTP_ONLY, settle
from dockyard.api.elbv2.network import NLB_GROUP, check_group_protocol, target_group_table
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of, page_of_rows
from dockyard.api.elbv2.refs import (
    check_name,
    get_load_balancer,
    get_target_group,
    notify_lb,
    resource_type,
    target_group_arn,
)
from dockyard.api.elbv2.tags import check_tags, put_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    DuplicateTargetGroupName,
    ResourceInUse,
    TargetGroupNotFound,
    ValidationError,
)
from dockyard.elbv2.targets import health_check_port
from dockyard.store import Kind, Tx


def _present(doc: dict[str, Any], users: dict[str, set[str]]) -> dict[str, Any]:
    return doc | {"LoadBalancerArns": sorted(users.get(doc["TargetGroupArn"], set()))}


def _settings(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in {"TargetGroupArn", "Attributes"}}


def create_target_group(ctx: ApiContext, params: Params) -> Result:
    name = params["Name"]
    check_name(name, "Target group")
    protocol = params.get("Protocol")
    check_group_protocol(protocol)
    assert protocol is not None
    network = protocol in NLB_GROUP
    target_type = params.get("TargetType", "instance")
    if target_type not in {"instance", "ip"}:
        raise ValidationError(f"Target type '{target_type}' is not supported: use instance or ip")
    port = params.get("Port")
    if port is None or not 1 <= port <= 65535:
        raise ValidationError("A port between 1 and 65535 must be specified")
    if network and params.get("ProtocolVersion"):
        raise ValidationError(
            "A protocol version can be specified for HTTP and HTTPS target groups only"
        )
    if (
        params.get("ProtocolVersion", "HTTP1") != "HTTP1"
        or params.get("IpAddressType", "ipv4") != "ipv4"
    ):
        raise ValidationError("Only protocol version HTTP1 and IP address type ipv4 are supported")
    health = settle(params, None, protocol)
    tags = params.get("Tags", [])
    check_tags(tags)
    doc: dict[str, Any] = {"TargetGroupName": name, "Protocol": protocol, "Port": port}
    if params.get("VpcId"):
        doc["VpcId"] = params["VpcId"]
    doc |= health | {"TargetType": target_type}
    if not network:
        doc["ProtocolVersion"] = "HTTP1"
    doc["IpAddressType"] = "ipv4"
    with ctx.store.transaction() as tx:
        existing = tx.find(Kind.TARGET_GROUP, {"name": name})
        if existing:
            if _settings(existing[0]) != doc:
                raise DuplicateTargetGroupName(
                    f"A target group with the same name '{name}' exists, but with different "
                    "settings"
                )
            return {"TargetGroups": [_present(existing[0], target_group_users(tx))]}
        check_target_group_quota(tx)
        arn = target_group_arn(ctx.identity, name)
        doc = {
            "TargetGroupArn": arn,
            **doc,
            "Attributes": attributes.defaults(target_group_table(doc)),
        }
        tx.insert(Kind.TARGET_GROUP, arn, doc, name=name)
        put_tags(tx, arn, tags)
    return {"TargetGroups": [_present(doc, {})]}


def _groups_of_load_balancer(
    tx: Tx, lb_arn: str, users: dict[str, set[str]]
) -> list[dict[str, Any]]:
    get_load_balancer(tx, lb_arn)
    return [get_target_group(tx, arn) for arn, lbs in users.items() if lb_arn in lbs]


def describe_target_groups(ctx: ApiContext, params: Params) -> Result:
    lb_arn, arns, names = (
        params.get("LoadBalancerArn"),
        params.get("TargetGroupArns"),
        params.get("Names"),
    )
    if sum(1 for given in (lb_arn, arns, names) if given) > 1:
        raise ValidationError("Specify only one of LoadBalancerArn, TargetGroupArns and Names")
    page = page_of(params)
    with ctx.store.read() as tx:
        users = target_group_users(tx)
        if lb_arn:
            docs = _groups_of_load_balancer(tx, lb_arn, users)
        elif arns:
            docs = [get_target_group(tx, arn) for arn in dict.fromkeys(arns)]
        elif names:
            docs = tx.find(Kind.TARGET_GROUP, {"name": list(set(names))})
            if len(docs) != len(set(names)):
                missing = sorted(set(names) - {d["TargetGroupName"] for d in docs})
                raise TargetGroupNotFound(f"Target groups '{', '.join(missing)}' not found")
        else:
            rows = tx.find(Kind.TARGET_GROUP, order_by=["name"], after=page.after, limit=page.fetch)
            items, marker = page_of_rows(rows, page, lambda d: d["TargetGroupName"])
            return answer("TargetGroups", [_present(d, users) for d in items], marker)
    docs.sort(key=lambda d: d["TargetGroupName"])
    items, marker = page_in_memory(docs, page, lambda d: d["TargetGroupName"])
    return answer("TargetGroups", [_present(d, users) for d in items], marker)


def modify_target_group(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = get_target_group(tx, params["TargetGroupArn"])
        old_port = doc["HealthCheckPort"]
        health = settle(params, doc, str(doc.get("Protocol", "HTTP")))
        for key in HTTP_ONLY:  # a TCP check has no path and no matcher
            doc.pop(key, None)
        doc.update(health)
        arn = doc["TargetGroupArn"]
        tx.update(Kind.TARGET_GROUP, arn, doc)
        if doc["HealthCheckPort"] != old_port:
            for row in tx.find_rows(Kind.TARGET, {"target_group": arn}):
                target = row["doc"]
                target["HealthCheckPort"] = health_check_port(doc, target["Target"]["Port"])
                tx.update(Kind.TARGET, row["arn"], target)
        users = target_group_users(tx)
    notify_lb(ctx)
    return {"TargetGroups": [_present(doc, users)]}


def delete_target_group(ctx: ApiContext, params: Params) -> Result:
    arn = params["TargetGroupArn"]
    if resource_type(arn) != "targetgroup":
        raise ValidationError(f"'{arn}' is not a valid target group ARN")
    with ctx.store.transaction() as tx:
        if tx.get(Kind.TARGET_GROUP, arn) is None:
            return {}
        if target_group_users(tx).get(arn):
            raise ResourceInUse(f"Target group '{arn}' is currently in use by a listener or a rule")
        for row in tx.find_rows(Kind.TARGET, {"target_group": arn}):
            tx.delete(Kind.TARGET, row["arn"])
        tx.delete_all_tags(arn)
        tx.delete(Kind.TARGET_GROUP, arn)
    notify_lb(ctx)
    return {}


def describe_target_group_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = get_target_group(tx, params["TargetGroupArn"])
    return {"Attributes": attributes.merged(doc.get("Attributes", []), [], target_group_table(doc))}


def modify_target_group_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = get_target_group(tx, params["TargetGroupArn"])
        doc["Attributes"] = attributes.merged(
            doc.get("Attributes", []), params["Attributes"], target_group_table(doc)
        )
        tx.update(Kind.TARGET_GROUP, doc["TargetGroupArn"], doc)
    notify_lb(ctx)
    return {"Attributes": doc["Attributes"]}
