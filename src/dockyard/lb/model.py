"""The ALB and NLB model as plain data: what `render.py`, `plan.py` and `health.py` read.

Frozen dataclasses with AWS defaults applied and target addresses resolved, so
the renderer and the planner never touch a store, a clock or an AWS-shaped
dict. `load_model(tx)` takes the snapshot; `documents.py` turns the stored
ELBv2 documents (botocore shapes, written by the API) into these types.
Neighbours: `render.py` (config text), `plan.py` (runtime diffs),
`controller.py` (the loop that calls `load_model`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.acm.keys import with_keys
from dockyard.acm.usage import listener_certificates
from dockyard.elbv2.trust_store_contents import with_bundles
from dockyard.store import Kind, Tx

Doc = Mapping[str, Any]
HOST_IP_ATTRIBUTE = "dockyard.host-ip"
LIVE_INSTANCE = ["ACTIVE", "DRAINING"]
TCP_PROTOCOLS = frozenset({"TCP", "TLS"})  # network load balancers: HAProxy `mode tcp`
NLB_IDLE_TIMEOUT_S = 350  # ELB's fixed TCP idle timeout for NLB flows


@dataclass(frozen=True)
class Redirect:
    protocol: str = "#{protocol}"
    port: str = "#{port}"
    host: str = "#{host}"
    path: str = "/#{path}"
    query: str = "#{query}"
    status: int = 301


@dataclass(frozen=True)
class Action:
    """The terminal action of a listener or rule: forward, fixed-response or redirect."""

    type: str
    groups: tuple[tuple[str, int], ...] = ()  # forward: (target group ARN, weight)
    group_stickiness_s: int | None = None  # forward to several groups: stick to one group
    status: int = 0  # fixed-response status
    content_type: str | None = None
    body: str | None = None
    redirect: Redirect | None = None


@dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[str, ...] = ()
    header: str | None = None  # http-header
    pairs: tuple[tuple[str | None, str], ...] = ()  # query-string (key or None, value)


@dataclass(frozen=True)
class Rule:
    arn: str
    priority: int
    conditions: tuple[Condition, ...]
    action: Action | None


@dataclass(frozen=True)
class Tls:
    """An HTTPS or TLS listener's certificates (ARN, SHA-256 of certificate + chain: the
    document's `_PemSha256`, its `_Fingerprint` before that field existed; the default first),
    SslPolicy name and ALPN protocols (TLS listeners' AlpnPolicy, HAProxy's `alpn` list; None:
    no ALPN). The digests name the files in the config, so a re-import reloads HAProxy."""

    policy: str
    certificates: tuple[tuple[str, str], ...]
    alpn: str | None = "http/1.1"


@dataclass(frozen=True)
class MutualTls:
    """An HTTPS listener's MutualAuthentication (verify / passthrough) with its trust
    store's file digests; rendered by `mtls.py`."""

    mode: str  # "verify" or "passthrough"
    trust_store: str | None = None  # ARN (verify)
    bundle_sha256: str | None = None  # None in verify mode: the trust store is gone
    crl_sha256: str | None = None  # None: no revocations
    ignore_expiry: bool = False  # IgnoreClientCertificateExpiry
    advertise_ca_names: bool = False  # AdvertiseTrustStoreCaNames on


@dataclass(frozen=True)
class Listener:
    arn: str
    lb_name: str
    port: int
    default_action: Action | None
    rules: tuple[Rule, ...] = ()  # ascending priority
    idle_timeout_s: int = 60
    tls: Tls | None = None  # HTTPS or TLS
    protocol: str = "HTTP"  # HTTP | HTTPS (ALB) | TCP | TLS (NLB)
    mtls: MutualTls | None = None  # HTTPS with MutualAuthentication verify / passthrough

    @property
    def tcp(self) -> bool:
        """A network load balancer's listener: HAProxy `mode tcp`, no HTTP rules."""
        return self.protocol in TCP_PROTOCOLS


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    port: int | None = None
    health_path: str = "/"
    health_port: int | None = None  # None: the traffic port
    interval_s: int = 30
    timeout_s: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    algorithm: str = "round_robin"
    stickiness_s: int | None = None  # lb_cookie duration when stickiness is on
    slow_start_s: int = 0
    deregistration_delay_s: int = 300
    terminate_on_deregistration: bool = False  # deregistration_delay.connection_termination
    in_use: bool = False  # some listener or rule forwards to it
    protocol: str = "HTTP"  # HTTP (ALB) | TCP | TLS (NLB: HAProxy `mode tcp`)
    health_protocol: str = "HTTP"  # HTTP | HTTPS | TCP (connect only)
    proxy_protocol: bool = False  # proxy_protocol_v2.enabled: `send-proxy-v2`
    source_stickiness: bool = False  # NLB stickiness (source_ip): `balance source`
    unhealthy_termination: bool = False  # target_health_state.unhealthy.connection_termination

    @property
    def tcp(self) -> bool:
        return self.protocol in TCP_PROTOCOLS


@dataclass(frozen=True)
class Target:
    key: str  # "<target group arn>|<id>|<port>"
    group: str
    id: str
    port: int
    address: str | None  # None: the instance cannot be resolved
    state: str  # TargetHealth.State as stored
    health: Mapping[str, Any] = field(default_factory=dict, compare=False)
    draining_since: float | None = None
    instance_live: bool = True  # False: its container instance is gone (or never was)

    @property
    def server(self) -> str:
        """HAProxy server name: stable for the life of the registration."""
        return "t-" + hashlib.sha1(self.key.encode()).hexdigest()[:12]

    @property
    def draining(self) -> bool:
        return self.state == "draining"


@dataclass(frozen=True)
class LbModel:
    load_balancers: tuple[str, ...] = ()  # names
    listeners: tuple[Listener, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    targets: tuple[Target, ...] = ()
    # name -> (load balancer ARN, its State as stored): the controller writes a State only
    # when it differs from this
    stored_states: Mapping[str, tuple[str, Doc | None]] = field(default_factory=dict)

    def group(self, arn: str) -> TargetGroup | None:
        return next((g for g in self.target_groups if g.arn == arn), None)


def backend_name(group: TargetGroup) -> str:
    return f"tg-{group.name}"


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def load_model(tx: Tx) -> LbModel:
    """A snapshot of everything the load balancer needs, in one read transaction."""
    from dockyard.lb.documents import build_model, instance_addresses  # it imports this module

    balancers = tx.find(Kind.LOAD_BALANCER)
    if not balancers:
        return LbModel()
    targets = tx.find_rows(Kind.TARGET)
    ids = {str(row["doc"]["Target"]["Id"]) for row in targets}
    instance_ids = sorted(i for i in ids if not is_ip(i))
    live = {"instance_id": instance_ids, "status": LIVE_INSTANCE}
    instances = tx.find(Kind.CONTAINER_INSTANCE, live) if instance_ids else []
    listeners = tx.find(Kind.LISTENER)
    # A certificate without its key, a trust store without its bundle (from before both moved
    # into the store, their files not found): left out as if missing, not served half-made.
    certificates = _named(tx, Kind.CERTIFICATE, with_keys(tx, _certificate_arns(listeners)))
    trust_stores = _named(tx, Kind.TRUST_STORE, with_bundles(tx, _trust_store_arns(listeners)))
    return build_model(
        balancers=balancers,
        listeners=listeners,
        rules=tx.find_rows(Kind.RULE),
        groups=tx.find(Kind.TARGET_GROUP),
        targets=targets,
        addresses=instance_addresses(instances),
        certificates=certificates,
        trust_stores=trust_stores,
    )


def _certificate_arns(listeners: Iterable[Doc]) -> set[str]:
    return {arn for doc in listeners for arn in listener_certificates(doc)}


def _trust_store_arns(listeners: Iterable[Doc]) -> set[str]:
    named = ((doc.get("MutualAuthentication") or {}).get("TrustStoreArn") for doc in listeners)
    return {str(arn) for arn in named if arn}


def _named(tx: Tx, kind: Kind, arns: Iterable[str]) -> dict[str, Doc]:
    """Only the documents the listeners name (certificates carry their PEM text): keyed by
    ARN, the missing ones left out."""
    found = {arn: tx.get(kind, arn) for arn in sorted(arns)}
    return {arn: doc for arn, doc in found.items() if doc is not None}
