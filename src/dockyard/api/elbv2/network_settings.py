"""A load balancer's network settings: SetSubnets, SetSecurityGroups, SetIpAddressType,
and the network fields every LoadBalancer answer carries (`presented`).

Dockyard has no VPC: every load balancer listens on the one address HAProxy binds
(`settings.BIND_ADDRESS`, its DNSName). Subnets and security groups are therefore
recorded and answered as ELB answers them, not enforced: a subnet becomes an
AvailabilityZones entry in the region's zone "a", a security group filters nothing.
What would need AWS's network is refused with InvalidConfigurationRequest and a reason:
Elastic IPs and private addresses in SubnetMappings, dualstack IP address types, IPv6
source NAT prefixes. Network load balancers follow ELB's rules for security groups (none
added to one created without, never all removed, the PrivateLink setting is theirs only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2.refs import get_load_balancer
from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import InvalidConfigurationRequest, ValidationError
from dockyard.store import Kind

# Route 53 hosted zones of ELB's DNS names, per region (AWS's published values);
# a region not listed (a Dockyard-only name) answers us-east-1's.
ALB_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "ca-central-1": "ZQSVJUPU6J1EY",
    "eu-central-1": "Z215JYRZR1TBD5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-west-3": "Z3Q77PNBQS71R4",
    "eu-north-1": "Z23TAZ6LKFMNIO",
    "ap-northeast-1": "Z14GRHDCWA56QT",
    "ap-northeast-2": "ZWKZPGTI48KDX",
    "ap-south-1": "ZP97RAFLXTNZK",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "sa-east-1": "Z2P70J7HTTTPLU",
}
NLB_ZONES = {
    "us-east-1": "Z26RNL4JYFTOTI",
    "us-east-2": "ZLMOA37VPKANP",
    "us-west-1": "Z24FKFUX50B4VW",
    "us-west-2": "Z18D5FSROUN65G",
    "ca-central-1": "Z2EPGBW3API2WT",
    "eu-central-1": "Z3F0SRJ5LGBH90",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-west-2": "ZD4D7Y8KGAS4G",
    "eu-west-3": "Z1CMS0P5QUZ6D5",
    "eu-north-1": "Z1UDT6IFJ4EJM",
    "ap-northeast-1": "Z31USIVHYNEOWT",
    "ap-northeast-2": "ZIBE1TIR4HY56",
    "ap-south-1": "ZVDDRBQ08TROA",
    "ap-southeast-1": "ZKVM4W9LS7TM",
    "ap-southeast-2": "ZCT6FZBF4DROD",
    "sa-east-1": "ZTK26PT1VY4CU",
}
DEFAULT_REGION = "us-east-1"
NOT_HERE = ("AllocationId", "PrivateIPv4Address", "IPv6Address", "SourceNatIpv6Prefix")


def hosted_zone_id(region: str, lb_type: str) -> str:
    zones = NLB_ZONES if lb_type == "network" else ALB_ZONES
    return zones.get(region, zones[DEFAULT_REGION])


def _region(doc: Mapping[str, Any]) -> str:
    parsed = parse_arn(str(doc.get("LoadBalancerArn", "")))
    return parsed.region if parsed is not None else DEFAULT_REGION


def zones(region: str, subnets: list[str]) -> list[dict[str, str]]:
    """AvailabilityZones for subnets (all in the region's zone "a": one host, one zone)."""
    return [{"ZoneName": region + "a", "SubnetId": subnet} for subnet in subnets]


def presented(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with the network fields ELB always answers (documents written before
    these fields existed get them too)."""
    region, lb_type = _region(doc), str(doc.get("Type", "application"))
    out = dict(doc)
    out.setdefault("CanonicalHostedZoneId", hosted_zone_id(region, lb_type))
    out.setdefault("IpAddressType", "ipv4")
    if not out.get("AvailabilityZones"):
        out["AvailabilityZones"] = [{"ZoneName": region + "a"}]
    if lb_type == "application":
        out.setdefault("SecurityGroups", [])
    return out


def ipv4_only(ip_type: str) -> None:
    if ip_type != "ipv4":
        raise InvalidConfigurationRequest(
            f"IP address type '{ip_type}' is not available: Dockyard's load balancers listen "
            "on one IPv4 address (the server's --lb-bind)"
        )


def check_ipv4(params: Params) -> None:
    """IpAddressType and EnablePrefixForIpv6SourceNat (CreateLoadBalancer, SetSubnets)."""
    ipv4_only(params.get("IpAddressType", "ipv4"))
    if params.get("EnablePrefixForIpv6SourceNat", "off") != "off":
        raise InvalidConfigurationRequest(
            "IPv6 source NAT prefixes are tied to AWS's network and not available on Dockyard"
        )


def check_subnets(params: Params, *, required: bool = True) -> list[str]:
    """Subnets or SubnetMappings (exactly one; none at all only when not `required`:
    CreateLoadBalancer without subnets), with what needs AWS's network refused."""
    subnets, mappings = params.get("Subnets"), params.get("SubnetMappings")
    if (subnets and mappings) or (required and not subnets and not mappings):
        raise ValidationError("Specify either Subnets or SubnetMappings")
    for mapping in mappings or []:
        if not mapping.get("SubnetId"):
            raise ValidationError("A subnet ID must be specified in each subnet mapping")
        extra = [key for key in NOT_HERE if mapping.get(key)]
        if extra:
            raise InvalidConfigurationRequest(
                f"{', '.join(extra)} in a subnet mapping is tied to AWS's network and not "
                "available on Dockyard"
            )
    chosen = [str(s) for s in subnets] if subnets else [m["SubnetId"] for m in mappings or []]
    if any(not subnet for subnet in chosen):
        raise ValidationError("Subnet IDs cannot be empty")
    if len(set(chosen)) != len(chosen):
        raise ValidationError("A subnet was specified more than once")
    return chosen


def set_subnets(ctx: ApiContext, params: Params) -> Result:
    chosen = check_subnets(params)
    check_ipv4(params)
    with ctx.store.transaction() as tx:
        doc = get_load_balancer(tx, params["LoadBalancerArn"])
        doc["AvailabilityZones"] = zones(ctx.identity.region, chosen)
        tx.update(Kind.LOAD_BALANCER, doc["LoadBalancerArn"], doc)
    return {"AvailabilityZones": doc["AvailabilityZones"], "IpAddressType": "ipv4"}


def set_security_groups(ctx: ApiContext, params: Params) -> Result:
    groups = [str(group) for group in params["SecurityGroups"]]
    if any(not group for group in groups):
        raise ValidationError("Security group IDs cannot be empty")
    enforce = params.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    if enforce is not None and enforce not in {"on", "off"}:
        raise ValidationError(
            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic must be 'on' or 'off'"
        )
    with ctx.store.transaction() as tx:
        doc = get_load_balancer(tx, params["LoadBalancerArn"])
        network = doc.get("Type") == "network"
        if enforce is not None and not network:
            raise InvalidConfigurationRequest(
                "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic applies to network "
                "load balancers only"
            )
        if network and groups and not doc.get("SecurityGroups"):
            raise InvalidConfigurationRequest(
                "A network load balancer created without security groups cannot get any"
            )
        if network and not groups and doc.get("SecurityGroups"):
            raise InvalidConfigurationRequest(
                "All security groups cannot be removed from a network load balancer"
            )
        doc["SecurityGroups"] = list(dict.fromkeys(groups))
        if enforce is not None:
            doc["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] = enforce
        tx.update(Kind.LOAD_BALANCER, doc["LoadBalancerArn"], doc)
    result: dict[str, Any] = {"SecurityGroupIds": doc["SecurityGroups"]}
    if network:
        result["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] = doc.get(
            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic", "on"
        )
    return result


def set_ip_address_type(ctx: ApiContext, params: Params) -> Result:
    ipv4_only(params["IpAddressType"])
    with ctx.store.transaction() as tx:
        doc = get_load_balancer(tx, params["LoadBalancerArn"])
        if doc.get("IpAddressType") != "ipv4":
            doc["IpAddressType"] = "ipv4"
            tx.update(Kind.LOAD_BALANCER, doc["LoadBalancerArn"], doc)
    return {"IpAddressType": "ipv4"}
