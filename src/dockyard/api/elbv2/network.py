"""Network load balancers: what differs from application ones, in one place.

    load balancer Type   application            network
    listeners            HTTP, HTTPS            TCP, TLS (UDP, TCP_UDP, QUIC refused: the
                                                HAProxy data plane proxies TCP only)
    target groups        HTTP                   TCP, TLS (UDP, TCP_UDP refused likewise)
    actions              forward, redirect,     forward to one target group; no rules
                         fixed-response, rules
    attributes           LOAD_BALANCER,         NETWORK_LOAD_BALANCER,
                         TARGET_GROUP           NETWORK_TARGET_GROUP

A TCP target group is used by TCP or TLS listeners, a TLS group by TLS listeners, an
HTTP group by HTTP or HTTPS listeners: anything else is ELB's IncompatibleProtocols.
Used by load_balancers.py, listeners.py, target_groups.py, actions.py and rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2 import attributes
from dockyard.api.elbv2.attributes import Check
from dockyard.elbv2.errors import (
    ALPNPolicyNotSupported,
    IncompatibleProtocols,
    InvalidConfigurationRequest,
    ValidationError,
)

ALB_LISTENER = ("HTTP", "HTTPS")
NLB_LISTENER = ("TCP", "TLS")
NLB_GROUP = ("TCP", "TLS")
TCP_PROTOCOLS = frozenset(NLB_LISTENER)
# Listener protocol -> the target group protocols it may forward to (as ELB pairs them).
FORWARDS_TO: dict[str, tuple[str, ...]] = {
    "HTTP": ("HTTP", "HTTPS"),
    "HTTPS": ("HTTP", "HTTPS"),
    "TCP": ("TCP", "TCP_UDP"),
    "TLS": ("TCP", "TLS"),
}
NOT_SERVED = {"UDP", "TCP_UDP", "QUIC", "TCP_QUIC"}
ELB_NLB_PROTOCOLS = "TCP_QUIC, QUIC, TCP_UDP, UDP, TLS, TCP"  # ELB's list in its message
ALPN_POLICIES = ("HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None")


def is_network(load_balancer: Mapping[str, Any]) -> bool:
    return load_balancer.get("Type") == "network"


def _not_served(what: str, protocol: str) -> ValidationError:
    return ValidationError(
        f"{what} protocol '{protocol}' is not supported by Dockyard: network load balancers "
        "run on HAProxy, which proxies TCP streams only (TCP and TLS), not UDP datagrams "
        "or QUIC"
    )


def check_listener_protocol(protocol: str, network: bool) -> None:
    """ELB's ValidationError for a protocol the load balancer type does not have."""
    if network and protocol in NOT_SERVED:
        raise _not_served("Listener", protocol)
    allowed = NLB_LISTENER if network else ALB_LISTENER
    if protocol not in allowed:
        names = ELB_NLB_PROTOCOLS if network else "HTTPS, HTTP"
        raise ValidationError(f"Listener protocol '{protocol}' must be one of '{names}'")


def check_group_protocol(protocol: str | None) -> None:
    """Target groups: HTTP (application) or TCP/TLS (network)."""
    if protocol in NOT_SERVED:
        raise _not_served("Target group", protocol or "")
    if protocol not in ("HTTP", *NLB_GROUP):
        raise ValidationError(
            f"Target group protocol '{protocol}' is not supported: use HTTP (application "
            "load balancers), TCP or TLS (network load balancers)"
        )


def check_compatible(listener_protocol: str, group: Mapping[str, Any]) -> None:
    """A listener may only forward to a target group of a protocol it pairs with."""
    group_protocol = str(group.get("Protocol", "HTTP"))
    if group_protocol not in FORWARDS_TO.get(listener_protocol, ()):
        raise IncompatibleProtocols(
            f"Listener protocol '{listener_protocol}' is not supported with a target group "
            f"with the protocol '{group_protocol}'"
        )


def check_alpn(policy: list[str] | None, protocol: str) -> None:
    """A TLS listener's AlpnPolicy: one of ELB's names, or none given."""
    if not policy:
        return
    if protocol != "TLS":
        raise InvalidConfigurationRequest("ALPN policies apply to TLS listeners only")
    if len(policy) != 1 or policy[0] not in ALPN_POLICIES:
        raise ALPNPolicyNotSupported(
            f"ALPN policy '{','.join(policy)}' is not supported; use one of "
            f"{', '.join(ALPN_POLICIES)}"
        )


# ---------------------------------------------------------------- attributes

_ROUTING = ("availability_zone_affinity", "partial_availability_zone_affinity",
            "any_availability_zone")  # fmt: skip


def _client_ip_not_preserved(key: str, value: str) -> None:
    attributes.boolean(key, value)
    if value == "true":
        raise ValidationError(
            f"'{key}' cannot be true on Dockyard: HAProxy proxies each connection, so targets "
            "see its address; enable 'proxy_protocol_v2.enabled' to pass the client's address"
        )


# Network load balancers' attributes, ELB's defaults. cross-zone is accepted and described:
# one HAProxy serves every "zone" here, so traffic is always cross-zone in effect.
NETWORK_LOAD_BALANCER: dict[str, tuple[str, Check]] = {
    "access_logs.s3.enabled": attributes.LOAD_BALANCER["access_logs.s3.enabled"],
    "access_logs.s3.bucket": attributes.LOAD_BALANCER["access_logs.s3.bucket"],
    "access_logs.s3.prefix": attributes.LOAD_BALANCER["access_logs.s3.prefix"],
    "deletion_protection.enabled": ("false", attributes.boolean),
    "load_balancing.cross_zone.enabled": ("false", attributes.boolean),
    "dns_record.client_routing_policy": ("any_availability_zone", attributes.one_of(*_ROUTING)),
    "zonal_shift.config.enabled": ("false", attributes.boolean),
}

# TCP/TLS target groups. Honoured: deregistration_delay.*, proxy_protocol_v2.enabled
# (send-proxy-v2), stickiness source_ip (balance source),
# target_health_state.unhealthy.connection_termination.enabled (on-marked-down).
# Accepted and described only: cross-zone, the unhealthy draining interval.
# preserve_client_ip is false only: HAProxy proxies, so targets see HAProxy's address
# (ELB's default for instance targets is true); proxy protocol v2 carries the client's.
NETWORK_TARGET_GROUP: dict[str, tuple[str, Check]] = {
    "deregistration_delay.timeout_seconds": ("300", attributes.between(0, 3600)),
    "deregistration_delay.connection_termination.enabled": ("false", attributes.boolean),
    "load_balancing.cross_zone.enabled": (
        "use_load_balancer_configuration",
        attributes.one_of("true", "false", "use_load_balancer_configuration"),
    ),
    "preserve_client_ip.enabled": ("false", _client_ip_not_preserved),
    "proxy_protocol_v2.enabled": ("false", attributes.boolean),
    "stickiness.enabled": ("false", attributes.boolean),
    "stickiness.type": ("source_ip", attributes.one_of("source_ip")),
    "target_health_state.unhealthy.connection_termination.enabled": ("true", attributes.boolean),
    "target_health_state.unhealthy.draining_interval_seconds": (
        "0",
        attributes.between(0, 360000),
    ),
}


def load_balancer_table(doc: Mapping[str, Any]) -> dict[str, tuple[str, Check]]:
    return NETWORK_LOAD_BALANCER if is_network(doc) else attributes.LOAD_BALANCER


def target_group_table(doc: Mapping[str, Any]) -> dict[str, tuple[str, Check]]:
    return NETWORK_TARGET_GROUP if doc.get("Protocol") in NLB_GROUP else attributes.TARGET_GROUP
