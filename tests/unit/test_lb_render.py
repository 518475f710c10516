"""render_haproxy: table cases over the model, and `haproxy -c` accepts every rendered config."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.lb.model import (
    Action,
    Condition,
    LbModel,
    Listener,
    Redirect,
    Rule,
    Target,
    TargetGroup,
)
from dockyard.lb.render import RenderSettings, render_haproxy, structure

A = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/a/1"
B = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/b/2"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def group(arn: str = A, name: str = "a", **fields: object) -> TargetGroup:
    return TargetGroup(arn, name, in_use=True, **fields)  # type: ignore[arg-type]


def target(
    arn: str = A, host: str = "127.0.0.2", port: int = 20001, state: str = "healthy"
) -> Target:
    return Target(f"{arn}|{host}|{port}", arn, host, port, host, state)


def to(*arns: str) -> Action:
    return Action("forward", groups=tuple((arn, 1) for arn in arns))


def model(
    *rules: Rule,
    default: Action | None = None,
    groups: tuple[TargetGroup, ...] | None = None,
    targets: tuple[Target, ...] = (),
) -> LbModel:
    listener = Listener("arn:listener", "web", 20080, default or to(A), rules)
    return LbModel(("web",), (listener,), groups or (group(), group(B, "b")), targets)


def rule(priority: int, *conditions: Condition, action: Action | None = None) -> Rule:
    return Rule(f"arn:rule/{priority}", priority, conditions, action or to(B))


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`haproxy -c` on a rendered config (skipped without HAProxy unless CI requires it)."""
    if not os.path.exists(HAPROXY):
        if os.environ.get("DOCKYARD_REQUIRE_DOCKER") == "1":
            pytest.fail("haproxy is required (DOCKYARD_REQUIRE_DOCKER=1) but not installed")
        pytest.skip("haproxy is not installed")
    directory = tmp_path_factory.mktemp("haproxy")
    state = directory / "state"
    state.write_text("1\n")
    settings = RenderSettings(admin_socket=directory / "admin.sock", state_file=state)

    def run(lb: LbModel) -> str:
        config = render_haproxy(lb, settings)
        path = directory / "haproxy.cfg"
        path.write_text(config)
        result = subprocess.run(
            [HAPROXY, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr + "\n" + config
        return config

    return run


CASES = [
    pytest.param(
        model(rule(1, Condition("path-pattern", ("/api/*",)))),
        ["acl r1_c0 path_beg /api/", "str(r1) if !{ var(txn.dy_rule) -m found } r1_c0"],
        id="path-prefix",
    ),
    pytest.param(
        model(rule(1, Condition("path-pattern", ("/exact", "*.png", "/a?c/*/d")))),
        ["acl r1_c0 path -m str /exact", "acl r1_c0 path_end .png", 'path_reg "^/a.c/.*/d\\$"'],
        id="path-exact-suffix-regex",
    ),
    pytest.param(
        model(
            rule(
                1,
                Condition("path-pattern", ("/with space",)),
                Condition("http-header", ("-i",), "X"),
            )
        ),
        ['path -m str "/with space"', "req.fhdr(X) -m str -i -- -i"],
        id="path-quoting",
    ),
    pytest.param(
        model(rule(1, Condition("host-header", ("api.example.com", "*.example.org")))),
        [
            "req.hdr(host),field(1,:) -m str -i api.example.com",
            'req.hdr(host),field(1,:) -m reg -i "^.*\\\\.example\\\\.org\\$"',
        ],
        id="host-header",
    ),
    pytest.param(
        model(rule(1, Condition("http-header", ("beta*",), "User-Agent"))),
        ['req.fhdr(User-Agent) -m reg -i "^beta.*\\$"'],
        id="http-header",
    ),
    pytest.param(
        model(rule(1, Condition("query-string", pairs=(("v", "2"), (None, "x*"))))),
        ['query -m reg -i "(?:^|&)v=2(?:&|\\$)"', "(?:[^&=]*=)?x[^&]*(?:&|"],
        id="query-string",
    ),
    pytest.param(
        model(rule(1, Condition("http-request-method", ("PUT", "DELETE")))),
        ["acl r1_c0 method -m str PUT DELETE"],
        id="method",
    ),
    pytest.param(
        model(
            rule(2, Condition("path-pattern", ("/b",)), action=to(A)),
            rule(1, Condition("path-pattern", ("/a",)), Condition("method", ("GET",))),
        ),
        ["acl r1_c1 always_false", "str(r2) if !{ var(txn.dy_rule) -m found } r2_c0"],
        id="unknown-condition-never-matches",
    ),
    pytest.param(
        model(
            rule(
                1,
                Condition("path-pattern", ("/*",)),
                action=Action("forward", groups=((A, 30), (B, 70)), group_stickiness_s=600),
            )
        ),
        [
            "set-var(txn.dy_rand) rand(100)",
            "str(tg-a) if { var(txn.dy_rule) -m str r1 } !{ var(txn.dy_be) -m found } { var(txn.dy_rand) -m int lt 30 }",
            "{ var(txn.dy_rand) -m int lt 100 }",
            "{ req.cook(AWSALBTG) -m str tg-b }",
            '"AWSALBTG=%[var(txn.dy_be)]; Max-Age=600; Path=/"',
        ],
        id="weighted-forward-sticky",
    ),
    pytest.param(
        model(
            rule(
                1,
                Condition("path-pattern", ("/x",)),
                action=Action("forward", groups=((A, 0), (B, 0))),
            )
        ),
        ["http-request return status 503 if { var(txn.dy_rule) -m str r1 }"],
        id="weighted-all-zero",
    ),
    pytest.param(
        model(
            default=Action(
                "fixed-response", status=404, content_type="application/json", body='{"a": "$b"}\n'
            )
        ),
        [
            'http-request return status 404 content-type application/json string "{\\"a\\": \\"\\$b\\"}\\x0a"'
        ],
        id="fixed-response",
    ),
    pytest.param(
        model(default=Action("fixed-response", status=503)),
        ["http-request return status 503 if { var(txn.dy_rule) -m str default }"],
        id="fixed-response-no-body",
    ),
    pytest.param(
        model(
            default=Action("redirect", redirect=Redirect(protocol="HTTPS", port="443", status=301))
        ),
        [
            'location "https://%[req.hdr(host),field(1,:)]/%[path,bytes(1)]?%[query]" code 301',
            "!{ query -m len gt 0 }",
        ],
        id="redirect-https",
    ),
    pytest.param(
        model(
            default=Action(
                "redirect",
                redirect=Redirect(host="example.com", path="/x", query="a=%41", status=302),
            )
        ),
        ['location "http://example.com:20080/x?a=%%41" code 302'],
        id="redirect-static",
    ),
    pytest.param(
        model(groups=(group(matcher="200,202"), group(B, "b", matcher="200-299"))),
        ["http-check expect status 200,202", "http-check expect status 200-299"],
        id="matchers",
    ),
    pytest.param(
        model(groups=(group(algorithm="least_outstanding_requests"), group(B, "b"))),
        ["backend tg-a\n    # " + A + "\n    balance leastconn", "balance roundrobin"],
        id="leastconn",
    ),
    pytest.param(
        model(groups=(group(stickiness_s=120), group(B, "b"))),
        [
            "dynamic-cookie-key ",
            "cookie AWSALB insert indirect nocache dynamic maxlife 120s attr Max-Age=120",
        ],
        id="stickiness",
    ),
    pytest.param(
        model(
            groups=(
                group(
                    slow_start_s=30,
                    health_port=20999,
                    interval_s=10,
                    timeout_s=4,
                    healthy_threshold=3,
                    unhealthy_threshold=4,
                    health_path="/ping?full=1",
                ),
                group(B, "b"),
            )
        ),
        [
            "default-server check inter 10s fall 4 rise 3 port 20999 slowstart 30s",
            "timeout check 4s",
            "http-check send meth GET uri /ping?full=1 hdr User-Agent ELB-HealthChecker/2.0",
        ],
        id="health-check-and-slow-start",
    ),
]


@pytest.mark.parametrize(("lb", "expected"), CASES)
def test_render(lb: LbModel, expected: list[str], check) -> None:  # type: ignore[no-untyped-def]
    config = check(lb)
    for fragment in expected:
        assert fragment in config


def test_rules_are_matched_in_priority_order_before_any_action(check) -> None:  # type: ignore[no-untyped-def]
    config = check(
        model(
            rule(1, Condition("path-pattern", ("/a*",))),
            rule(
                2, Condition("path-pattern", ("/*",)), action=Action("fixed-response", status=404)
            ),
        )
    )
    lines = config.splitlines()
    matches = [i for i, line in enumerate(lines) if "set-var(txn.dy_rule)" in line]
    actions = [i for i, line in enumerate(lines) if "http-request return" in line]
    assert max(matches) < min(actions)
    assert lines[matches[0]].endswith("str(r1) if !{ var(txn.dy_rule) -m found } r1_c0")


def test_servers_live_targets_only_and_unused_groups_vanish(check) -> None:  # type: ignore[no-untyped-def]
    draining = Target(f"{A}|127.0.0.4|1", A, "127.0.0.4", 1, "127.0.0.4", "draining")
    unresolved = Target(f"{A}|i-1|2", A, "i-1", 2, None, "initial")
    idle = TargetGroup("arn:idle", "idle")
    lb = model(
        groups=(group(), group(B, "b"), idle),
        targets=(
            target(),
            target(host="127.0.0.3", state="initial"),
            draining,
            unresolved,
            target("arn:idle", "127.0.0.9"),
        ),
    )
    config = check(lb)
    servers = [line for line in config.splitlines() if line.startswith("    server ")]
    assert sorted(s.split()[2] for s in servers) == ["127.0.0.2:20001", "127.0.0.3:20001"]
    assert "tg-idle" not in config
    assert servers[0].split()[1].startswith("t-")


def test_structure_ignores_servers_only() -> None:
    settings = RenderSettings()
    one = render_haproxy(model(targets=(target(),)), settings)
    two = render_haproxy(model(targets=(target(), target(host="127.0.0.3"))), settings)
    assert one != two and structure(one) == structure(two)
    changed = render_haproxy(model(rule(1, Condition("path-pattern", ("/x",)))), settings)
    assert structure(changed) != structure(one)


def test_render_is_deterministic() -> None:
    lb = model(
        targets=(target(), target(host="127.0.0.3")), groups=(group(stickiness_s=60), group(B, "b"))
    )
    assert render_haproxy(lb, RenderSettings()) == render_haproxy(lb, RenderSettings())


def test_listeners_sharing_a_port_keep_the_first(check) -> None:  # type: ignore[no-untyped-def]
    first = Listener("arn:l1", "one", 20080, to(A))
    second = Listener("arn:l2", "two", 20080, to(B))
    config = check(LbModel(("one", "two"), (first, second), (group(), group(B, "b"))))
    assert "frontend lb-one-20080" in config and "frontend lb-two-20080" not in config
    assert "# listener arn:l2: port 20080 is taken; not served" in config


def test_settings_paths_are_in_global(tmp_path: Path) -> None:
    settings = RenderSettings(admin_socket=tmp_path / "a b.sock", state_file=tmp_path / "state")
    config = render_haproxy(model(), settings)
    assert f'stats socket "{tmp_path}/a b.sock" mode 600 level admin' in config
    assert f"server-state-file {tmp_path}/state" in config
    assert "load-server-state-from-file global" in config


def test_only_idempotent_requests_are_retried_after_they_were_sent(check) -> None:  # type: ignore[no-untyped-def]
    """Connection failures (nothing sent) are retried once elsewhere for every method;
    empty responses and response timeouts only for GET, HEAD and OPTIONS."""
    config = check(model())
    lines = [line.strip() for line in config.splitlines()]
    assert "option redispatch 1" in lines and "retries 1" in lines
    assert "retry-on conn-failure empty-response response-timeout" in lines
    backends = config.split("\nbackend ")[1:]
    assert backends and all(
        "http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS" in b for b in backends
    )
