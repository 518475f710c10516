"""Network load balancers in the pure LB layer: documents -> model, `mode tcp` rendering
(accepted by `haproxy -c`), runtime plans for TCP backends and L4 health results."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.lb.documents import build_model
from dockyard.lb.health import target_health
from dockyard.lb.model import Action, LbModel, Listener, Target, TargetGroup, Tls
from dockyard.lb.plan import plan_runtime
from dockyard.lb.render import RenderSettings, render_haproxy, server_options
from dockyard.lb.runtime_api import ServerStat, Stats

A = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/a/1"
B = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/b/2"
H = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/h/3"
CERT = "arn:aws:acm:us-east-1:000000000000:certificate/c1"
LB = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/net/n/1"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def tcp_group(arn: str = A, name: str = "a", **fields: object) -> TargetGroup:
    values: dict[str, object] = {"protocol": "TCP", "health_protocol": "TCP", "timeout_s": 10}
    values |= fields
    return TargetGroup(arn, name, in_use=True, **values)  # type: ignore[arg-type]


def target(arn: str = A, port: int = 20001, state: str = "healthy") -> Target:
    return Target(f"{arn}|127.0.0.2|{port}", arn, "127.0.0.2", port, "127.0.0.2", state)


def forward(arn: str) -> Action:
    return Action("forward", groups=((arn, 1),))


def tcp_listener(port: int = 20090, arn: str = A, **fields: object) -> Listener:
    values: dict[str, object] = {"protocol": "TCP", "idle_timeout_s": 350}
    values |= fields
    return Listener(f"arn:listener/{port}", "n", port, forward(arn), **values)  # type: ignore[arg-type]


def tls_listener(port: int = 20443, arn: str = A, alpn: str | None = None) -> Listener:
    tls = Tls("ELBSecurityPolicy-TLS13-1-2-2021-06", ((CERT, "ab12"),), alpn)
    return tcp_listener(port, arn, protocol="TLS", tls=tls)


def nlb(*listeners: Listener, groups: tuple[TargetGroup, ...], targets: tuple[Target, ...] = ()) -> LbModel:  # fmt: skip
    return LbModel(("n",), listeners, groups, targets)


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`haproxy -c` on a rendered config, with a real certificate for TLS binds."""
    if not os.path.exists(HAPROXY):
        if os.environ.get("DOCKYARD_REQUIRE_DOCKER") == "1":
            pytest.fail("haproxy is required (DOCKYARD_REQUIRE_DOCKER=1) but not installed")
        pytest.skip("haproxy is not installed")
    from dockyard.acm.files import write_certificate
    from tests.unit.test_acm import make_certificate

    directory = tmp_path_factory.mktemp("haproxy-tcp")
    certificate, key = make_certificate("nlb.example.test")
    write_certificate(directory / "certs", CERT, "ab12", certificate.decode(), key.decode())
    state = directory / "state"
    state.write_text("1\n")
    settings = RenderSettings(
        admin_socket=directory / "admin.sock", state_file=state, certs_dir=directory / "certs"
    )

    def run(lb: LbModel) -> str:
        config = render_haproxy(lb, settings)
        path = directory / "haproxy.cfg"
        path.write_text(config)
        result = subprocess.run(
            [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr + "\n" + config
        warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
        assert [w for w in warnings if "server state file" not in w] == [], config
        return config

    return run


def section(config: str, header: str) -> str:
    """The lines of one `frontend`/`backend` section."""
    start = config.index("\n" + header + "\n") + 1
    end = config.find("\n\n", start)
    return config[start : end if end >= 0 else None]


def test_tcp_listener_renders_a_tcp_proxy_without_http_rules(check) -> None:  # type: ignore[no-untyped-def]
    config = check(nlb(tcp_listener(), groups=(tcp_group(),), targets=(target(),)))
    frontend = section(config, "frontend lb-n-20090")
    backend = section(config, "backend tg-a")
    assert "    mode tcp" in frontend and "    mode tcp" in backend
    assert "bind 127.0.0.1:20090\n" in frontend
    assert "default_backend tg-a" in frontend
    assert "timeout client 350s" in frontend and "timeout server 350s" in backend
    for http_only in ("http-request", "option httpchk", "forwardfor", "disable-l7-retry"):
        assert http_only not in frontend + backend
    assert "retry-on conn-failure\n" in backend  # only what was never sent is retried
    assert "default-server check inter 30s fall 2 rise 5\n" in backend  # a connect check
    assert "timeout check 10s" in backend
    assert "server t-" in backend and "127.0.0.2:20001" in backend


def test_tls_listener_terminates_tls_and_forwards_plain_tcp(check) -> None:  # type: ignore[no-untyped-def]
    config = check(nlb(tls_listener(alpn="h2,http/1.1"), groups=(tcp_group(),)))
    frontend = section(config, "frontend lb-n-20443")
    assert "    mode tcp" in frontend
    assert "ssl crt " in frontend and "c1-ab12.pem" in frontend
    assert "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3" in frontend
    assert frontend.rstrip().endswith("default_backend tg-a")
    assert "alpn h2,http/1.1" in frontend
    without_alpn = check(nlb(tls_listener(), groups=(tcp_group(),)))
    assert "alpn" not in section(without_alpn, "frontend lb-n-20443")
    assert "ssl verify none" not in section(without_alpn, "backend tg-a")  # plain to targets


def test_http_health_checks_and_tls_groups(check) -> None:  # type: ignore[no-untyped-def]
    groups = (
        tcp_group(health_protocol="HTTP", health_path="/ping", matcher="200-399", timeout_s=6),
        tcp_group(B, "b", protocol="TLS", proxy_protocol=True, unhealthy_termination=True),
    )
    config = check(nlb(tcp_listener(), tls_listener(arn=B), groups=groups))
    http = section(config, "backend tg-a")
    assert "option httpchk" in http and "uri /ping" in http
    assert "http-check expect status 200-399" in http
    tls = section(config, "backend tg-b")
    assert "option httpchk" not in tls
    assert "ssl verify none send-proxy-v2 on-marked-down shutdown-sessions" in tls


def test_source_ip_stickiness_stays_a_dynamic_algorithm(check) -> None:  # type: ignore[no-untyped-def]
    config = check(nlb(tcp_listener(), groups=(tcp_group(source_stickiness=True),)))
    assert "balance source\n    hash-type consistent" in section(config, "backend tg-a")


def test_alb_and_nlb_side_by_side(check) -> None:  # type: ignore[no-untyped-def]
    http = Listener("arn:listener/http", "web", 20080, forward(H))
    groups = (tcp_group(), TargetGroup(H, "h", in_use=True))
    config = check(nlb(http, tcp_listener(), groups=groups))
    alb = section(config, "frontend lb-web-20080")
    assert "option forwardfor" in alb and "mode tcp" not in alb
    assert "disable-l7-retry" in section(config, "backend tg-h")
    defaults = section(config, "defaults")
    assert "forwardfor" not in defaults  # HAProxy refuses `no option forwardfor` in TCP


def test_tcp_listener_without_a_group_rejects_connections(check) -> None:  # type: ignore[no-untyped-def]
    listener = Listener("arn:listener/x", "n", 20091, None, protocol="TCP")
    config = check(nlb(listener, groups=(tcp_group(),)))
    assert "tcp-request connection reject" in section(config, "frontend lb-n-20091")


def test_tls_without_certificate_is_left_out() -> None:
    listener = tcp_listener(protocol="TLS", tls=Tls("ELBSecurityPolicy-2016-08", ()))
    config = render_haproxy(nlb(listener, groups=(tcp_group(),)), RenderSettings())
    assert "TLS without a certificate; not served" in config
    assert "frontend lb-n-" not in config


def test_runtime_add_uses_the_tcp_groups_options() -> None:
    group = tcp_group(protocol="TLS", proxy_protocol=True)
    model = nlb(tcp_listener(), groups=(group,), targets=(target(state="initial"),))
    (op,) = plan_runtime(model, Stats((), frozenset({"tg-a"})), 1000.0).ops
    assert (op.kind, op.backend, op.cookie) == ("add", "tg-a", False)
    assert (
        op.options
        == server_options(group)
        == ("check inter 30s fall 2 rise 5 ssl verify none send-proxy-v2")
    )


def stat(t: Target, status: str, check_status: str, changed_s: int = 0) -> ServerStat:
    return ServerStat("tg-a", t.server, status, check_status, "", 0, 0, "127.0.0.2:20001", 1,
                      changed_s=changed_s)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "status", "check_status", "expected"),
    [
        pytest.param("initial", "UP", "L4OK", ("healthy", None), id="L4OK"),
        pytest.param("healthy", "DOWN", "L4TOUT", ("unhealthy", "Target.Timeout"), id="L4TOUT"),
        pytest.param(
            "healthy", "DOWN", "L4CON", ("unhealthy", "Target.FailedHealthChecks"), id="L4CON"
        ),
        pytest.param(
            "initial", "DOWN", "L4CON", ("initial", "Elb.InitialHealthChecking"), id="L4CON-new"
        ),
        pytest.param(
            "healthy", "DOWN", "L6RSP", ("unhealthy", "Target.FailedHealthChecks"), id="L6RSP"
        ),
    ],
)
def test_l4_check_results_map_to_elb_reasons(
    state: str, status: str, check_status: str, expected: tuple[str, str | None]
) -> None:
    t = target(state=state)
    health = target_health(t, tcp_group(), stat(t, status, check_status))
    assert (health["State"], health.get("Reason")) == expected


def test_an_initial_target_refused_for_long_enough_is_unhealthy() -> None:
    t = target(state="initial")
    health = target_health(t, tcp_group(), stat(t, "DOWN", "L4CON", changed_s=60))
    assert (health["State"], health["Reason"]) == ("unhealthy", "Target.FailedHealthChecks")


def test_documents_build_the_nlb_model() -> None:
    listener = {
        "ListenerArn": "arn:listener/1", "LoadBalancerArn": LB, "Port": 20443, "Protocol": "TLS",
        "Certificates": [{"CertificateArn": CERT}], "SslPolicy": "ELBSecurityPolicy-2016-08",
        "AlpnPolicy": ["HTTP2Preferred"],
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": A, "Order": 1}],
    }  # fmt: skip
    group = {
        "TargetGroupArn": A, "TargetGroupName": "a", "Protocol": "TCP", "Port": 9000,
        "HealthCheckProtocol": "TCP", "HealthCheckTimeoutSeconds": 10, "TargetType": "ip",
        "Attributes": [
            {"Key": "proxy_protocol_v2.enabled", "Value": "true"},
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.type", "Value": "source_ip"},
        ],
    }  # fmt: skip
    model = build_model(
        balancers=[{"LoadBalancerArn": LB, "LoadBalancerName": "n", "Type": "network"}],
        listeners=[listener],
        rules=[],
        groups=[group],
        targets=[],
        addresses={},
        certificates={CERT: {"CertificateArn": CERT, "_Fingerprint": "ab"}},
    )
    (built,) = model.listeners
    assert (built.protocol, built.tcp, built.idle_timeout_s) == ("TLS", True, 350)
    assert built.tls == Tls("ELBSecurityPolicy-2016-08", ((CERT, "ab"),), "h2,http/1.1")
    (tg,) = model.target_groups
    assert (tg.protocol, tg.health_protocol, tg.matcher, tg.in_use) == (
        "TCP",
        "TCP",
        "200-399",
        True,
    )
    assert (tg.proxy_protocol, tg.source_stickiness, tg.stickiness_s) == (True, True, None)
    assert tg.unhealthy_termination  # ELB's default for NLB target groups


def test_render_settings_paths_are_used(tmp_path: Path) -> None:
    settings = RenderSettings(certs_dir=tmp_path / "certs")
    config = render_haproxy(nlb(tls_listener(), groups=(tcp_group(),)), settings)
    assert f"crt {tmp_path / 'certs' / 'c1-ab12.pem'}" in config
