"""Load balancers: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and
Describe/ModifyLoadBalancerAttributes.

Application and network load balancers (Type network: TCP/TLS listeners, see
network.py), served by the one HAProxy of the server: every load balancer's DNSName
is the address HAProxy binds (`settings.BIND_ADDRESS`), so `curl
http://<DNSName>:<listener port>/` reaches it. Gateway load balancers are refused.
As in AWS, creating a load balancer that exists with the same settings returns it,
and deleting one that does not exist succeeds.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2 import attributes, network_settings, settings
from dockyard.api.elbv2.account import check_load_balancer_quota
from dockyard.api.elbv2.listeners import delete_listener_tree
from dockyard.api.elbv2.network import load_balancer_table
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of, page_of_rows
from dockyard.api.elbv2.refs import (
    check_name,
    get_load_balancer,
    load_balancer_arn,
    notify_lb,
    resource_type,
)
from dockyard.api.elbv2.tags import check_tags, put_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    DuplicateLoadBalancerName,
    DuplicateTagKeys,
    InvalidConfigurationRequest,
    LoadBalancerNotFound,
    OperationNotPermitted,
    ValidationError,
)
from dockyard.store import Kind

SCHEMES = {"internet-facing", "internal"}
TYPES = {"application", "network"}


def _name(doc: dict[str, Any]) -> str:
    return str(doc["LoadBalancerName"])


def _present(doc: dict[str, Any]) -> dict[str, Any]:
    """The DNSName is the current bind address (the server may have restarted on another)."""
    return network_settings.presented(doc) | {"DNSName": settings.BIND_ADDRESS}


def create_load_balancer(ctx: ApiContext, params: Params) -> Result:
    name = params["Name"]
    check_name(name, "Load balancer")
    if name.lower().startswith("internal-"):
        raise ValidationError("Load balancer name cannot start with 'internal-'")
    lb_type = params.get("Type", "application")
    if lb_type not in TYPES:
        raise InvalidConfigurationRequest(
            f"Load balancer type '{lb_type}' is not supported: Dockyard runs application and "
            "network load balancers (gateway load balancers route GENEVE to appliances)"
        )
    scheme = params.get("Scheme", "internet-facing")
    if scheme not in SCHEMES:
        raise ValidationError(f"Scheme must be internet-facing or internal; got '{scheme}'")
    network_settings.check_ipv4(params)
    tags = params.get("Tags", [])
    check_tags(tags, DuplicateTagKeys)
    subnets = network_settings.check_subnets(params, required=False)
    with ctx.store.transaction() as tx:
        existing = tx.find(Kind.LOAD_BALANCER, {"name": name})
        if existing:
            if (existing[0]["Scheme"], existing[0]["Type"]) != (scheme, lb_type):
                raise DuplicateLoadBalancerName(
                    f"A load balancer with the same name '{name}' exists, but with different "
                    "settings"
                )
            return {"LoadBalancers": [_present(existing[0])]}
        check_load_balancer_quota(tx, lb_type)
        arn = load_balancer_arn(ctx.identity, name, lb_type)
        doc = {
            "LoadBalancerArn": arn,
            "DNSName": settings.BIND_ADDRESS,
            "CreatedTime": ctx.now(),
            "LoadBalancerName": name,
            "Scheme": scheme,
            "State": {"Code": "provisioning"},  # active once HAProxy serves it (lb/state.py)
            "Type": lb_type,
            "AvailabilityZones": network_settings.zones(ctx.identity.region, subnets),
            "SecurityGroups": params.get("SecurityGroups", []),
            "IpAddressType": "ipv4",
            "Attributes": attributes.defaults(load_balancer_table({"Type": lb_type})),
        }
        tx.insert(Kind.LOAD_BALANCER, arn, doc, name=name, status="provisioning")
        put_tags(tx, arn, tags)
    notify_lb(ctx)
    return {"LoadBalancers": [_present(doc)]}


def describe_load_balancers(ctx: ApiContext, params: Params) -> Result:
    arns, names = params.get("LoadBalancerArns"), params.get("Names")
    if arns and names:
        raise ValidationError(
            "Load balancer names and load balancer ARNs cannot be specified at the same time"
        )
    page = page_of(params)
    with ctx.store.read() as tx:
        if arns:
            docs = [get_load_balancer(tx, arn) for arn in dict.fromkeys(arns)]
        elif names:
            docs = tx.find(Kind.LOAD_BALANCER, {"name": list(set(names))})
            if len(docs) != len(set(names)):
                missing = sorted(set(names) - {_name(d) for d in docs})
                raise LoadBalancerNotFound(f"Load balancers '{', '.join(missing)}' not found")
        else:
            rows = tx.find(
                Kind.LOAD_BALANCER, order_by=["name"], after=page.after, limit=page.fetch
            )
            items, marker = page_of_rows(rows, page, _name)
            return answer("LoadBalancers", [_present(d) for d in items], marker)
    items, marker = page_in_memory(sorted(docs, key=_name), page, _name)
    return answer("LoadBalancers", [_present(d) for d in items], marker)


def delete_load_balancer(ctx: ApiContext, params: Params) -> Result:
    arn = params["LoadBalancerArn"]
    if resource_type(arn) != "loadbalancer":
        raise ValidationError(f"'{arn}' is not a valid load balancer ARN")
    with ctx.store.transaction() as tx:
        doc = tx.get(Kind.LOAD_BALANCER, arn)
        if doc is None:
            return {}
        if attributes.value(doc, "deletion_protection.enabled", load_balancer_table(doc)) == "true":
            raise OperationNotPermitted(
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
            )
        for listener in tx.find(Kind.LISTENER, {"load_balancer": arn}):
            delete_listener_tree(tx, listener["ListenerArn"])
        tx.delete_all_tags(arn)
        tx.delete(Kind.LOAD_BALANCER, arn)
    notify_lb(ctx)
    return {}


def describe_load_balancer_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = get_load_balancer(tx, params["LoadBalancerArn"])
    return {
        "Attributes": attributes.merged(doc.get("Attributes", []), [], load_balancer_table(doc))
    }


def modify_load_balancer_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        doc = get_load_balancer(tx, params["LoadBalancerArn"])
        doc["Attributes"] = attributes.merged(
            doc.get("Attributes", []), params["Attributes"], load_balancer_table(doc)
        )
        tx.update(Kind.LOAD_BALANCER, doc["LoadBalancerArn"], doc)
    notify_lb(ctx)
    return {"Attributes": doc["Attributes"]}
