"""Render the ALB/NLB model into one HAProxy configuration: a pure function of data.

    global/defaults     sockets, server-state-file, timeouts, maxconn
    frontend per HTTP/HTTPS listener (application load balancers)
        rule matching   ordered `set-var(txn.dy_rule)`: the first matching rule by
                        priority wins, whatever its action (ALB semantics; plain
                        `use_backend` would let every `http-request return` win)
        rule actions    forward -> `set-var(txn.dy_be)` (weighted: rand ranges,
                        optional group stickiness cookie AWSALBTG); fixed-response
                        -> `http-request return`; redirect -> `http-request redirect`
        use_backend %[var(txn.dy_be)]
    frontend per TCP/TLS listener (network load balancers): `mode tcp`, `bind` (TLS:
        `ssl crt ...` terminated here), `default_backend`; no HTTP rules
    backend per target group in use
        balance, httpchk, expect, default-server (inter/fall/rise/port/slowstart),
        dynamic cookie AWSALB for stickiness, one `server` line per live target;
        TCP/TLS groups: `mode tcp`, plain `check` (connect) or httpchk, no L7 retries

Draining targets are not rendered: after a reload the new worker must send them
nothing, and the old worker finishes what it has in flight. Targets of unused
groups or without an address are not rendered either. Server lines start with
"    server " so `structure()` can tell a server-set change (runtime API) from a
structural one (reload).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from dockyard.acm.files import pem_path
from dockyard.acm.policies import policy
from dockyard.lb import mtls
from dockyard.lb.model import (
    NLB_IDLE_TIMEOUT_S,
    Action,
    LbModel,
    Listener,
    Target,
    TargetGroup,
    backend_name,
)
from dockyard.lb.syntax import condition_acls, redirect_component, word

SERVER_PREFIX = "    server "
RULE_VAR = "txn.dy_rule"
BACKEND_VAR = "txn.dy_be"
GROUP_COOKIE = "AWSALBTG"
RETRY_ON = "conn-failure empty-response response-timeout"
IDEMPOTENT_ONLY = "http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS"
TARGET_COOKIE = "AWSALB"


@dataclass(frozen=True)
class RenderSettings:
    bind_address: str = "127.0.0.1"
    admin_socket: Path = Path("admin.sock")
    state_file: Path = Path("server-state")
    cookie_secret: str = "dockyard"
    maxconn: int = 4096
    hard_stop_after_s: int = 300
    certs_dir: Path = Path("certs")  # TLS files (lb/tls_files.py: names; tls_writer.py: I/O)


def render_haproxy(model: LbModel, settings: RenderSettings) -> str:
    lines = [*_global(settings)]
    used_ports: set[int] = set()
    for listener in model.listeners:
        if listener.port in used_ports:
            lines += ["", f"# listener {listener.arn}: port {listener.port} is taken; not served"]
            continue
        if listener.tls is not None and not listener.tls.certificates:
            missing = f"{'TLS' if listener.tcp else 'HTTPS'} without a certificate"
            lines += ["", f"# listener {listener.arn}: {missing}; not served"]
            continue
        if reason := mtls.unserved(listener.mtls):
            lines += ["", f"# listener {listener.arn}: {reason}; not served"]
            continue
        used_ports.add(listener.port)
        if listener.tcp:
            lines += _tcp_frontend(listener, model, settings)
        else:
            lines += _frontend(listener, model, settings)
    for group in model.target_groups:
        if group.in_use:
            targets = [t for t in model.targets if t.group == group.arn]
            lines += _backend(group, targets, settings, _tcp_timeout(group, model))
    return "\n".join(lines) + "\n"


def frontend_name(listener: Listener) -> str:
    return f"lb-{listener.lb_name}-{listener.port}"


def frontends(config: str) -> set[str]:
    """The frontends a configuration defines (what a worker that loaded it serves)."""
    return {line.split()[1] for line in config.splitlines() if line.startswith("frontend ")}


def left_out(config: str) -> dict[str, str]:
    """Listener ARN -> why the renderer left it out (its `# listener <arn>: <why>; not served`)."""
    out = {}
    for line in config.splitlines():
        if line.startswith("# listener ") and line.endswith("; not served"):
            arn, _, why = (
                line.removeprefix("# listener ").removesuffix("; not served").partition(": ")
            )
            out[arn] = why
    return out


def structure(config: str) -> str:
    """The config without its server lines: what only a reload can change."""
    return "\n".join(line for line in config.splitlines() if not line.startswith(SERVER_PREFIX))


def serves(target: Target, group: TargetGroup | None) -> bool:
    """Whether the target has a server line (and so a runtime server) at all."""
    return group is not None and group.in_use and target.address is not None and not target.draining


def server_options(group: TargetGroup) -> str:
    """Settings of every server of a group: in `default-server` and in `add server`.

    TLS groups speak TLS to their targets (`ssl verify none`: ELB does not verify target
    certificates either), and so do their checks on the traffic port (HAProxy refuses
    `no-check-ssl` on runtime-added servers; ELB's TCP/HTTP checks would be plain); an
    HTTPS check is `check-ssl`. `send-proxy-v2` for proxy_protocol_v2.enabled; an NLB cuts the
    connections of a target that turns unhealthy (`on-marked-down shutdown-sessions`)
    unless target_health_state.unhealthy.connection_termination.enabled is false.
    """
    options = [
        "check",
        f"inter {group.interval_s}s",
        f"fall {group.unhealthy_threshold}",
        f"rise {group.healthy_threshold}",
    ]
    if group.health_port is not None:
        options.append(f"port {group.health_port}")
    if group.slow_start_s > 0 and not group.tcp:
        options.append(f"slowstart {group.slow_start_s}s")
    if group.protocol == "TLS":
        options.append("ssl verify none")
    elif group.health_protocol == "HTTPS":
        options.append("check-ssl verify none")
    if group.proxy_protocol:
        options.append("send-proxy-v2")
    if group.unhealthy_termination:
        options.append("on-marked-down shutdown-sessions")
    return " ".join(options)


def _global(settings: RenderSettings) -> list[str]:
    return [
        "# Rendered by dockyard.lb from the ELBv2 model; do not edit.",
        "global",
        f"    stats socket {word(str(settings.admin_socket))} mode 600 level admin"
        " expose-fd listeners",
        "    stats timeout 30s",
        f"    server-state-file {word(str(settings.state_file))}",
        f"    maxconn {settings.maxconn}",
        f"    hard-stop-after {settings.hard_stop_after_s}s",
        "",
        "defaults",
        "    mode http",
        # Retries beyond ELB: a request whose connection failed (nothing was sent) goes once
        # to another server; idempotent ones also after an empty response or a response
        # timeout from a dying target (each backend disables L7 retries for the rest).
        "    option redispatch 1",
        "    retries 1",
        f"    retry-on {RETRY_ON}",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 60s",
        "    timeout queue 30s",
        "    load-server-state-from-file global",
    ]


def _frontend(listener: Listener, model: LbModel, settings: RenderSettings) -> list[str]:
    name = frontend_name(listener)
    lines = [
        "",
        f"frontend {name}",
        f"    # {listener.arn}",
        *_bind(listener, settings),
        "    option forwardfor",  # here, not in defaults: TCP proxies refuse it
        f"    timeout client {listener.idle_timeout_s}s",
        f"    timeout http-keep-alive {listener.idle_timeout_s}s",
        f"    http-request set-header X-Forwarded-Proto {_scheme(listener)}",
        f"    http-request set-header X-Forwarded-Port {listener.port}",
        *(f"    {line}" for line in mtls.header_rules(listener.mtls)),
    ]
    unmatched = f"!{{ var({RULE_VAR}) -m found }}"
    actions: list[tuple[str, Action | None]] = []
    for rule in listener.rules:
        rid = f"r{rule.priority}"
        names = []
        for index, condition in enumerate(rule.conditions):
            acl = f"{rid}_c{index}"
            names.append(acl)
            lines += [f"    acl {acl} {line}" for line in condition_acls(condition)] or [
                f"    acl {acl} always_false"
            ]
        when = " ".join([unmatched, *names])
        lines.append(f"    http-request set-var({RULE_VAR}) str({rid}) if {when}")
        actions.append((rid, rule.action))
    lines.append(f"    http-request set-var({RULE_VAR}) str(default) if {unmatched}")
    actions.append(("default", listener.default_action))
    for rid, action in actions:
        lines += _action(rid, action, listener, model)
    lines.append(f"    use_backend %[var({BACKEND_VAR})] if {{ var({BACKEND_VAR}) -m found }}")
    return lines


def _tcp_frontend(listener: Listener, model: LbModel, settings: RenderSettings) -> list[str]:
    """A TCP or TLS listener: connections (TLS terminated by the bind) go to the forward
    action's group as a plain byte stream; without a group they are closed at once."""
    lines = [
        "",
        f"frontend {frontend_name(listener)}",
        f"    # {listener.arn}",
        "    mode tcp",
        *_bind(listener, settings),
        f"    timeout client {listener.idle_timeout_s}s",
    ]
    action = listener.default_action
    groups = [model.group(arn) for arn, _ in action.groups] if action is not None else []
    live = [g for g in groups if g is not None and g.tcp]
    if live:
        lines.append(f"    default_backend {backend_name(live[0])}")
    else:
        lines.append("    tcp-request connection reject")
    return lines


def _tcp_timeout(group: TargetGroup, model: LbModel) -> int:
    """A TCP group's server-side idle timeout: the longest of the listeners forwarding to it."""
    timeouts = [
        lsn.idle_timeout_s
        for lsn in model.listeners
        if lsn.tcp and lsn.default_action is not None
        for arn, _ in lsn.default_action.groups
        if arn == group.arn
    ]
    return max(timeouts, default=NLB_IDLE_TIMEOUT_S)


def _action(rid: str, action: Action | None, listener: Listener, model: LbModel) -> list[str]:
    when = f"{{ var({RULE_VAR}) -m str {rid} }}"
    if action is None:
        return [f"    http-request return status 503 if {when}"]
    if action.type == "fixed-response":
        body = ""
        if action.body:
            body = f" content-type {word(action.content_type or 'text/plain')}"
            body += f" string {word(action.body)}"
        return [f"    http-request return status {action.status}{body} if {when}"]
    if action.type == "redirect" and action.redirect is not None:
        return _redirect(action, listener, when)
    return _forward(action, model, when)


def _forward(action: Action, model: LbModel, when: str) -> list[str]:
    groups = [(model.group(arn), weight) for arn, weight in action.groups]
    live = [(g, w) for g, w in groups if g is not None]
    if len(live) == 1:
        return [
            f"    http-request set-var({BACKEND_VAR}) str({backend_name(live[0][0])}) if {when}"
        ]
    weighted = [(g, w) for g, w in live if w > 0]
    if not weighted:
        return [f"    http-request return status 503 if {when}"]
    lines = []
    unset = f"!{{ var({BACKEND_VAR}) -m found }}"
    if action.group_stickiness_s is not None:
        for group, _ in weighted:
            name = backend_name(group)
            cookie = f"{{ req.cook({GROUP_COOKIE}) -m str {name} }}"
            lines.append(f"    http-request set-var({BACKEND_VAR}) str({name}) if {when} {cookie}")
    total = sum(w for _, w in weighted)
    lines.append(f"    http-request set-var(txn.dy_rand) rand({total}) if {when} {unset}")
    bound = 0
    for group, weight in weighted:
        bound += weight
        pick = f"{{ var(txn.dy_rand) -m int lt {bound} }}"
        name = backend_name(group)
        lines.append(
            f"    http-request set-var({BACKEND_VAR}) str({name}) if {when} {unset} {pick}"
        )
    if action.group_stickiness_s is not None:
        cookie = (
            f"{GROUP_COOKIE}=%[var({BACKEND_VAR})]; Max-Age={action.group_stickiness_s}; Path=/"
        )
        lines.append(f"    http-response add-header Set-Cookie {word(cookie)} if {when}")
    return lines


def _redirect(action: Action, listener: Listener, when: str) -> list[str]:
    spec = action.redirect
    assert spec is not None
    protocol = _scheme(listener) if spec.protocol == "#{protocol}" else spec.protocol.lower()
    port = str(listener.port) if spec.port == "#{port}" else spec.port
    values = {
        "#{protocol}": _scheme(listener),
        "#{host}": "%[req.hdr(host),field(1,:)]",
        "#{port}": str(listener.port),
        "#{path}": "%[path,bytes(1)]",
        "#{query}": "%[query]",
    }
    host = redirect_component(spec.host, values)
    default_port = {"http": "80", "https": "443"}.get(protocol)
    authority = host if port == default_port else f"{host}:{redirect_component(port, values)}"
    base = f"{protocol}://{authority}{redirect_component(spec.path, values)}"
    code = f"code {spec.status}"
    if spec.query == "#{query}":
        some = "{ query -m len gt 0 }"
        redirect = "    http-request redirect location"
        return [
            f"{redirect} {word(base + '?%[query]')} {code} if {when} {some}",
            f"{redirect} {word(base)} {code} if {when} !{some}",
        ]
    query = redirect_component(spec.query, values)
    location = f"{base}?{query}" if query else base
    return [f"    http-request redirect location {word(location)} {code} if {when}"]


def _scheme(listener: Listener) -> str:
    return "http" if listener.tls is None else "https"


def _bind(listener: Listener, settings: RenderSettings) -> list[str]:
    """`bind`; for HTTPS and TLS with TLS terminated here: every certificate as a `crt` (the
    first is the default, the others are picked by SNI against their names; each key is the
    `.pem.key` file beside it), the SslPolicy's versions and ciphers, and the ALPN list
    (HTTPS: http/1.1; TLS: its AlpnPolicy, none by default). File names and a comment carry
    the digests, so that a re-imported certificate changes the config (a reload)."""
    address = f"{settings.bind_address}:{listener.port}"
    if listener.tls is None:
        return [f"    bind {address}"]
    tls = listener.tls
    ssl_policy = policy(tls.policy) or policy(None)
    assert ssl_policy is not None
    paths = [pem_path(settings.certs_dir, arn, digest) for arn, digest in tls.certificates]
    crts = " ".join(f"crt {word(str(path))}" for path in paths)
    lines = [f"    # certificate {arn} sha256 {digest}" for arn, digest in tls.certificates]
    alpn = f" alpn {tls.alpn}" if tls.alpn else ""
    client = ""  # mutual TLS: verify / passthrough options (lb/mtls.py)
    if listener.mtls is not None:
        client = " " + mtls.bind_options(listener.mtls, settings.certs_dir, paths[0])
    lines.append(f"    bind {address} ssl {crts} {ssl_policy.haproxy_options()}{alpn}{client}")
    return lines


def _backend(
    group: TargetGroup, targets: list[Target], settings: RenderSettings, tcp_timeout_s: int
) -> list[str]:
    algorithm = "leastconn" if group.algorithm == "least_outstanding_requests" else "roundrobin"
    lines = ["", f"backend {backend_name(group)}", f"    # {group.arn}"]
    if group.tcp:
        # NLB: a byte stream; only a failed connection is retried (nothing was sent yet).
        lines += [
            "    mode tcp",
            f"    timeout server {tcp_timeout_s}s",
            "    retry-on conn-failure",
        ]
    if group.tcp and group.source_stickiness:
        # source_ip stickiness; consistent hashing keeps the backend dynamic (`add server`)
        lines += ["    balance source", "    hash-type consistent"]
    else:
        lines.append(f"    balance {algorithm}")
    if group.health_protocol in ("HTTP", "HTTPS"):
        lines += [
            "    option httpchk",
            f"    http-check send meth GET uri {word(group.health_path)}"
            " hdr User-Agent ELB-HealthChecker/2.0",
            f"    http-check expect status {word(group.matcher.replace(' ', ''))}",
        ]
    lines += [
        f"    timeout check {group.timeout_s}s",
        f"    default-server {server_options(group)}",
    ]
    if not group.tcp:
        lines.append(f"    {IDEMPOTENT_ONLY}")
    if group.stickiness_s is not None and not group.tcp:
        secret = hashlib.sha256(f"{settings.cookie_secret}|{group.arn}".encode()).hexdigest()
        lines += [
            f"    dynamic-cookie-key {secret[:32]}",
            f"    cookie {TARGET_COOKIE} insert indirect nocache dynamic"
            f" maxlife {group.stickiness_s}s attr {word(f'Max-Age={group.stickiness_s}')}",
        ]
    for target in sorted(targets, key=lambda t: t.server):
        if serves(target, group):
            lines.append(f"{SERVER_PREFIX}{target.server} {target.address}:{target.port}")
    return lines
