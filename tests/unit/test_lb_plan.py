"""plan_runtime and target health: pure functions of (model, show stat, now)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dockyard.lb.health import health_changes, target_health
from dockyard.lb.model import Action, LbModel, Listener, Target, TargetGroup
from dockyard.lb.plan import plan_runtime
from dockyard.lb.runtime_api import ServerStat, Stats

A = "arn:tg/a"
NOW = 1000.0


def group(**fields: object) -> TargetGroup:
    base: dict[str, object] = {"in_use": True, "deregistration_delay_s": 30}
    return TargetGroup(A, "a", **{**base, **fields})  # type: ignore[arg-type]


def target(host: str = "127.0.0.2", state: str = "healthy", since: float | None = None) -> Target:
    return Target(f"{A}|{host}|20001", A, host, 20001, host, state, {"State": state}, since)


def stat(
    t: Target,
    status: str = "UP",
    check: str = "L7OK",
    code: str = "200",
    failures: int = 0,
    address: str | None = None,
) -> ServerStat:
    return ServerStat(
        "tg-a", t.server, status, check, code, failures, 0, address or f"{t.address}:{t.port}", 1
    )


def lb(*targets: Target, tg: TargetGroup | None = None) -> LbModel:
    listener = Listener("arn:l", "web", 20080, Action("forward", groups=((A, 1),)))
    return LbModel(("web",), (listener,), (tg or group(),), targets)


def stats(*rows: ServerStat) -> Stats:
    return Stats(rows, frozenset({"tg-a"}))


def kinds(model: LbModel, current: Stats, now: float = NOW) -> list[tuple[str, str]]:
    return [(op.kind, op.server) for op in plan_runtime(model, current, now).ops]


def test_new_target_is_added_with_the_groups_check_options() -> None:
    t = target(state="initial")
    (op,) = plan_runtime(lb(t, tg=group(slow_start_s=5, stickiness_s=60)), stats(), NOW).ops
    assert (op.kind, op.address, op.port, op.up, op.cookie) == (
        "add",
        "127.0.0.2",
        20001,
        False,
        True,
    )
    assert op.options == "check inter 30s fall 2 rise 5 slowstart 5s"


def test_steady_state_plans_nothing() -> None:
    t = target()
    assert not plan_runtime(lb(t), stats(stat(t)), NOW)


def test_moved_target_gets_a_new_address() -> None:
    t = target()
    assert kinds(lb(t), stats(stat(t, address="127.0.0.9:20001"))) == [("address", t.server)]


@pytest.mark.parametrize(
    ("status", "state", "up"),
    [
        pytest.param("MAINT", "initial", False, id="maint-initial-comes-back-down"),
        pytest.param("MAINT", "healthy", True, id="maint-healthy-comes-back-up"),
        pytest.param("DRAIN", "initial", True, id="drain-keeps-its-check-state"),
    ],
)
def test_reregistered_target_is_made_ready(status: str, state: str, up: bool) -> None:
    t = target(state=state)
    (op,) = plan_runtime(lb(t), stats(stat(t, status=status)), NOW).ops
    assert (op.kind, op.up) == ("ready", up)


def test_draining_target_is_drained_first() -> None:
    t = target(state="draining", since=NOW - 10)
    assert kinds(lb(t), stats(stat(t))) == [("drain", t.server)]


def busy(t: Target, status: str = "DRAIN", sessions: int = 0, queued: int = 0) -> ServerStat:
    return replace(stat(t, status=status), current_sessions=sessions, queued=queued)


@pytest.mark.parametrize(
    ("status", "sessions", "queued", "elapsed", "terminate", "op"),
    [
        pytest.param("DRAIN", 0, 0, 10, False, "remove", id="idle-ends-the-drain-early"),
        pytest.param("MAINT", 0, 0, 10, False, "remove", id="idle-in-maint-ends-it-too"),
        pytest.param("DRAIN", 2, 0, 10, False, None, id="sessions-keep-it-draining"),
        pytest.param("DRAIN", 0, 1, 10, False, None, id="queued-requests-keep-it-draining"),
        pytest.param("DRAIN", 2, 0, 30, True, "remove", id="delay-over-terminates-sessions"),
        pytest.param("DRAIN", 2, 0, 30, False, "maint", id="delay-over-leaves-sessions-open"),
        pytest.param("MAINT", 2, 0, 30, False, "", id="delay-over-already-in-maint"),
        pytest.param("DRAIN", 0, 0, 30, False, "remove", id="delay-over-and-idle"),
    ],
)
def test_drain_ends_when_idle_or_when_the_delay_is_over(
    status: str, sessions: int, queued: int, elapsed: int, terminate: bool, op: str | None
) -> None:
    t = target(state="draining", since=NOW - elapsed)
    model = lb(t, tg=group(terminate_on_deregistration=terminate))
    plan = plan_runtime(model, stats(busy(t, status, sessions, queued)), NOW)
    assert [(o.kind, o.key) for o in plan.ops] == ([(op, t.key)] if op else [])
    assert plan.delete == ([] if op is None else [t.key])


def test_a_maint_server_left_with_sessions_is_deleted_once_idle() -> None:
    orphan = target(host="127.0.0.7")
    assert kinds(lb(), stats(busy(orphan, "MAINT", sessions=1))) == []
    assert kinds(lb(), stats(busy(orphan, "MAINT"))) == [("remove", orphan.server)]


def test_draining_without_a_server_is_deleted_after_the_delay_only() -> None:
    t = target(state="draining", since=NOW - 10)
    assert not plan_runtime(lb(t), stats(), NOW)
    assert plan_runtime(lb(t), stats(), NOW + 20).delete == [t.key]


def test_draining_without_a_server_and_no_old_worker_is_done() -> None:
    t = target(state="draining", since=NOW - 10)
    assert plan_runtime(lb(t), stats(), NOW, old_workers=False).delete == [t.key]


def test_draining_without_a_timestamp_is_stamped() -> None:
    t = target(state="draining")
    plan = plan_runtime(lb(t), stats(busy(t, sessions=1)), NOW)
    assert plan.stamp == [t.key] and plan.delete == []
    assert plan_runtime(lb(t, tg=group(deregistration_delay_s=0)), stats(), NOW).delete == [t.key]


def test_servers_without_a_target_are_removed() -> None:
    orphan = target(host="127.0.0.7")
    assert kinds(lb(), stats(stat(orphan))) == [("remove", orphan.server)]


def test_backends_haproxy_does_not_run_are_left_to_the_reload() -> None:
    t = target()
    assert not plan_runtime(lb(t), Stats((), frozenset()), NOW)


H = group(unhealthy_threshold=3)


@pytest.mark.parametrize(
    ("t", "tg", "row", "expected"),
    [
        pytest.param(
            target(state="draining"),
            H,
            None,
            ("draining", "Target.DeregistrationInProgress"),
            id="draining",
        ),
        pytest.param(
            target(), group(in_use=False), None, ("unused", "Target.NotInUse"), id="unused"
        ),
        pytest.param(
            Target("k", A, "i-1", 1, None, "initial", instance_live=False),
            H,
            None,
            ("unused", "Target.InvalidState"),
            id="instance-gone",
        ),
        pytest.param(
            Target("k", A, "i-1", 1, None, "initial"),
            H,
            None,
            ("initial", "Elb.RegistrationInProgress"),
            id="no-address-yet",
        ),
        pytest.param(
            target(state="initial"),
            H,
            None,
            ("initial", "Elb.RegistrationInProgress"),
            id="registering",
        ),
        pytest.param(
            target(state="initial"),
            H,
            "MAINT",
            ("initial", "Elb.RegistrationInProgress"),
            id="maint",
        ),
        pytest.param(target(state="initial"), H, "UP", ("healthy", None), id="up"),
        pytest.param(
            target(state="healthy"), H, "UP 1/2", ("healthy", None), id="going-down-still-healthy"
        ),
        pytest.param(
            target(state="initial"),
            H,
            "DOWN",
            ("initial", "Elb.InitialHealthChecking"),
            id="checking",
        ),
        pytest.param(
            target(state="initial"),
            H,
            "DOWN/L7STS/3",
            ("unhealthy", "Target.ResponseCodeMismatch"),
            id="initial-fails",
        ),
        pytest.param(
            target(),
            H,
            "DOWN/L7STS",
            ("unhealthy", "Target.ResponseCodeMismatch"),
            id="code-mismatch",
        ),
        pytest.param(
            target(state="initial"),
            H,
            "DOWN/L7STS/0/89",
            ("initial", "Elb.InitialHealthChecking"),
            id="initial-failing-for-less-than-fall-intervals",
        ),
        pytest.param(
            target(state="initial"),
            H,
            "DOWN/L7STS/0/90",
            ("unhealthy", "Target.ResponseCodeMismatch"),
            id="initial-held-down-fails-fall-intervals",
        ),
        pytest.param(
            target(state="initial"),
            H,
            "DOWN/L7OK/0/300",
            ("initial", "Elb.InitialHealthChecking"),
            id="initial-passing-but-not-risen",
        ),
        pytest.param(target(), H, "DOWN/L4TOUT", ("unhealthy", "Target.Timeout"), id="l4-timeout"),
        pytest.param(target(), H, "DOWN/L7TOUT", ("unhealthy", "Target.Timeout"), id="l7-timeout"),
        pytest.param(
            target(), H, "DOWN/L4CON", ("unhealthy", "Target.FailedHealthChecks"), id="refused"
        ),
    ],
)
def test_target_health(
    t: Target, tg: TargetGroup, row: str | None, expected: tuple[str, str | None]
) -> None:
    current = None
    if row is not None:
        status, check, failures, changed = ([*row.split("/"), "", "", ""])[:4]
        current = stat(
            t, status=status, check=check or "INI", code="500", failures=int(failures or 0)
        )
        current = replace(current, changed_s=int(changed or 0))
    health = target_health(t, tg, current)
    assert (health["State"], health.get("Reason")) == expected
    if expected[1] == "Target.ResponseCodeMismatch":
        assert health["Description"] == "Health checks failed with these codes: [500]"


def test_health_changes_only_report_differences() -> None:
    steady, fresh = target(), target(host="127.0.0.3", state="initial")
    current = stats(stat(steady), stat(fresh))
    assert health_changes(lb(steady, fresh), current.by_ref()) == {fresh.key: {"State": "healthy"}}


def test_without_haproxy_servers_keep_their_health() -> None:
    steady, idle = target(), Target(f"{A}x|h|1", f"{A}x", "h", 1, "h", "initial")
    assert health_changes(lb(steady, idle), None) == {
        idle.key: {
            "State": "unused",
            "Reason": "Target.NotInUse",
            "Description": "Target group is not configured to receive traffic from the load balancer",
        }
    }
