"""Stored ELBv2 documents -> the model's dataclasses (defaults applied, addresses resolved).

Rules and targets arrive as store rows (their `listener`, `target_group` and
`state` columns matter); the other kinds as botocore-shaped documents. A target
whose Id is an ECS container instance resolves to the address its agent
declared in the `dockyard.host-ip` attribute. Used by `model.load_model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.acm.policies import DEFAULT_POLICY
from dockyard.acm.usage import listener_certificates
from dockyard.lb.model import (
    HOST_IP_ATTRIBUTE,
    NLB_IDLE_TIMEOUT_S,
    TCP_PROTOCOLS,
    Action,
    Condition,
    Doc,
    LbModel,
    Listener,
    Redirect,
    Rule,
    Target,
    TargetGroup,
    Tls,
    is_ip,
)
from dockyard.lb.mtls import parse_mutual_tls


def instance_addresses(instances: Iterable[Doc]) -> dict[str, str | None]:
    """ec2InstanceId of each live instance -> the host address its agent declared, if any."""
    found: dict[str, str | None] = {}
    for doc in instances:
        found.setdefault(doc["ec2InstanceId"], None)
        for attribute in doc.get("attributes", []):
            if attribute.get("name") == HOST_IP_ATTRIBUTE and attribute.get("value"):
                found[doc["ec2InstanceId"]] = attribute["value"]
    return found


def build_model(
    *,
    balancers: Iterable[Doc],
    listeners: Iterable[Doc],
    rules: Iterable[Doc],
    groups: Iterable[Doc],
    targets: Iterable[Doc],
    addresses: Mapping[str, str | None],
    certificates: Mapping[str, Doc] | None = None,
    trust_stores: Mapping[str, Doc] | None = None,
) -> LbModel:
    """Rules and targets are store rows ({"arn", "doc", and their columns}); the rest docs."""
    names = {b["LoadBalancerArn"]: b for b in balancers}
    rules_by_listener: dict[str, list[Rule]] = {}
    for row in rules:
        doc = row["doc"]
        if doc.get("IsDefault") or doc.get("Priority") == "default":
            continue
        rule = Rule(
            doc["RuleArn"],
            int(doc["Priority"]),
            tuple(parse_condition(c) for c in doc.get("Conditions", [])),
            parse_action(doc.get("Actions", [])),
        )
        rules_by_listener.setdefault(row["listener"], []).append(rule)
    built: list[Listener] = []
    for doc in sorted(listeners, key=lambda d: (d["Port"], d["ListenerArn"])):
        lb = names.get(doc["LoadBalancerArn"])
        if lb is None:
            continue
        protocol = str(doc.get("Protocol") or "HTTP")
        built.append(
            Listener(
                doc["ListenerArn"],
                lb["LoadBalancerName"],
                int(doc["Port"]),
                parse_action(doc.get("DefaultActions", [])),
                tuple(sorted(rules_by_listener.get(doc["ListenerArn"], []), key=_priority)),
                _idle_timeout(protocol, lb, doc),
                parse_tls(doc, certificates or {}),
                protocol,
                parse_mutual_tls(doc, trust_stores or {}),
            )
        )
    used = {arn for lsn in built for arn in _forwarded(lsn)}
    tgs = tuple(parse_group(doc, doc["TargetGroupArn"] in used) for doc in groups)
    kinds = {doc["TargetGroupArn"]: doc.get("TargetType", "instance") for doc in groups}
    parsed = tuple(
        parse_target(row, kinds.get(row["target_group"], "instance"), addresses) for row in targets
    )
    stored = {b["LoadBalancerName"]: (b["LoadBalancerArn"], b.get("State")) for b in balancers}
    return LbModel(tuple(sorted(names_of(balancers))), tuple(built), tgs, parsed, stored)


def names_of(balancers: Iterable[Doc]) -> list[str]:
    return [b["LoadBalancerName"] for b in balancers]


def _idle_timeout(protocol: str, lb: Doc, listener: Doc) -> int:
    """ALB: the load balancer's idle_timeout attribute; NLB: ELB's fixed 350 s TCP idle
    timeout, or the listener's `tcp.idle_timeout.seconds` attribute when it has one."""
    if protocol in TCP_PROTOCOLS:
        return int(attributes(listener).get("tcp.idle_timeout.seconds", NLB_IDLE_TIMEOUT_S))
    return int(attributes(lb).get("idle_timeout.timeout_seconds", 60))


def _priority(rule: Rule) -> tuple[int, str]:
    return rule.priority, rule.arn


def _forwarded(listener: Listener) -> set[str]:
    actions = [listener.default_action, *(r.action for r in listener.rules)]
    return {arn for a in actions if a is not None for arn, _ in a.groups}


def attributes(doc: Doc) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in doc.get("Attributes", []) if "Key" in a}


def parse_action(actions: Iterable[Doc]) -> Action | None:
    """The first terminal action by Order (authenticate-* actions are not served here)."""
    terminal = [a for a in actions if a.get("Type") in {"forward", "fixed-response", "redirect"}]
    if not terminal:
        return None
    doc = min(terminal, key=lambda a: int(a.get("Order", 0)))
    if doc["Type"] == "forward":
        config = doc.get("ForwardConfig") or {}
        groups = tuple(
            (g["TargetGroupArn"], int(g.get("Weight", 1))) for g in config.get("TargetGroups", [])
        )
        if not groups and doc.get("TargetGroupArn"):
            groups = ((doc["TargetGroupArn"], 1),)
        sticky = config.get("TargetGroupStickinessConfig") or {}
        duration = int(sticky.get("DurationSeconds", 3600)) if sticky.get("Enabled") else None
        return Action("forward", groups=groups, group_stickiness_s=duration)
    if doc["Type"] == "fixed-response":
        config = doc.get("FixedResponseConfig") or {}
        return Action(
            "fixed-response",
            status=int(config.get("StatusCode", 503)),
            content_type=config.get("ContentType"),
            body=config.get("MessageBody"),
        )
    config = doc.get("RedirectConfig") or {}
    defaults = Redirect()
    return Action(
        "redirect",
        redirect=Redirect(
            protocol=config.get("Protocol") or defaults.protocol,
            port=str(config.get("Port") or defaults.port),
            host=config.get("Host") or defaults.host,
            path=config.get("Path") or defaults.path,
            query=config.get("Query", defaults.query),
            status=302 if config.get("StatusCode") == "HTTP_302" else 301,
        ),
    )


def parse_condition(doc: Doc) -> Condition:
    name = doc["Field"]
    if name == "http-header":
        config = doc.get("HttpHeaderConfig") or {}
        return Condition(name, tuple(config.get("Values", [])), config.get("HttpHeaderName"))
    if name == "query-string":
        config = doc.get("QueryStringConfig") or {}
        pairs = tuple((p.get("Key"), p.get("Value", "")) for p in config.get("Values", []))
        return Condition(name, pairs=pairs)
    nested = {
        "path-pattern": "PathPatternConfig",
        "host-header": "HostHeaderConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "source-ip": "SourceIpConfig",
    }
    config = doc.get(nested.get(name, ""), {}) or {}
    return Condition(name, tuple(config.get("Values") or doc.get("Values") or []))


def parse_group(doc: Doc, in_use: bool) -> TargetGroup:
    attrs = attributes(doc)
    port = doc.get("HealthCheckPort", "traffic-port")
    protocol = str(doc.get("Protocol") or "HTTP")
    sticky_type = attrs.get("stickiness.type", "lb_cookie")
    on = attrs.get("stickiness.enabled") == "true"
    sticky = on and sticky_type in {"lb_cookie", "app_cookie"}
    return TargetGroup(
        arn=doc["TargetGroupArn"],
        name=doc["TargetGroupName"],
        port=doc.get("Port"),
        health_path=doc.get("HealthCheckPath") or "/",
        health_port=None if port in (None, "traffic-port") else int(port),
        interval_s=int(doc.get("HealthCheckIntervalSeconds", 30)),
        timeout_s=int(doc.get("HealthCheckTimeoutSeconds", 5)),
        healthy_threshold=int(doc.get("HealthyThresholdCount", 5)),
        unhealthy_threshold=int(doc.get("UnhealthyThresholdCount", 2)),
        matcher=(doc.get("Matcher") or {}).get("HttpCode")
        or ("200-399" if protocol in TCP_PROTOCOLS else "200"),
        algorithm=attrs.get("load_balancing.algorithm.type", "round_robin"),
        stickiness_s=int(attrs.get("stickiness.lb_cookie.duration_seconds", 86400))
        if sticky
        else None,
        slow_start_s=int(attrs.get("slow_start.duration_seconds", 0)),
        deregistration_delay_s=int(attrs.get("deregistration_delay.timeout_seconds", 300)),
        terminate_on_deregistration=attrs.get(
            "deregistration_delay.connection_termination.enabled", "false"
        )
        == "true",
        in_use=in_use,
        protocol=protocol,
        health_protocol=str(doc.get("HealthCheckProtocol") or "HTTP"),
        proxy_protocol=attrs.get("proxy_protocol_v2.enabled") == "true",
        source_stickiness=on and sticky_type == "source_ip",
        unhealthy_termination=protocol in TCP_PROTOCOLS
        and attrs.get("target_health_state.unhealthy.connection_termination.enabled", "true")
        == "true",
    )


def parse_target(row: Doc, target_type: str, addresses: Mapping[str, str | None]) -> Target:
    """A TARGET row; its `state` column is the registration state the API and we keep."""
    doc = row["doc"]
    target = doc["Target"]
    target_id = str(target["Id"])
    direct = target_type == "ip" or is_ip(target_id)
    address = target_id if direct else addresses.get(target_id)
    since = doc.get("drainingSince")
    return Target(
        key=row["arn"],
        group=row["target_group"],
        id=target_id,
        port=int(target["Port"]),
        address=address,
        state=row.get("state") or (doc.get("TargetHealth") or {}).get("State", "initial"),
        health=doc.get("TargetHealth") or {},
        draining_since=None if since is None else float(since),
        instance_live=direct or target_id in addresses,
    )


# A TLS listener's AlpnPolicy -> HAProxy's `alpn` list (ELB's names; "None": no ALPN).
ALPN = {
    "HTTP1Only": "http/1.1",
    "HTTP2Only": "h2",
    "HTTP2Optional": "http/1.1,h2",
    "HTTP2Preferred": "h2,http/1.1",
    "None": None,
}


def parse_tls(listener: Doc, certificates: Mapping[str, Doc]) -> Tls | None:
    """An HTTPS or TLS listener's policy, ALPN and the certificates that exist (default
    first). HTTPS speaks HTTP/1.1 to clients; a TLS listener negotiates its AlpnPolicy."""
    protocol = listener.get("Protocol")
    if protocol not in ("HTTPS", "TLS"):
        return None
    found = tuple(
        (arn, _file_digest(certificates[arn]))
        for arn in listener_certificates(listener)
        if arn in certificates
    )
    alpn: str | None = "http/1.1"
    if protocol == "TLS":
        alpn = ALPN.get(str((listener.get("AlpnPolicy") or ["None"])[0]))
    return Tls(str(listener.get("SslPolicy") or DEFAULT_POLICY), found, alpn)


def _file_digest(certificate: Doc) -> str:
    """What names the certificate's files: `_PemSha256` (certificate + chain), or for a
    document imported before that field the certificate's `_Fingerprint`."""
    return str(certificate.get("_PemSha256") or certificate.get("_Fingerprint", ""))
