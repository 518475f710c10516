"""AWS/ApplicationELB from recorded HAProxy 2.6 `show stat` texts (tests/unit/data).

The recordings: frontend lb-web-18000 with `http-request return status 503` for /fixed,
backend tg-web with t-aaa (UP, busybox httpd) and t-bbb (DOWN). Between _0 and _1:
20 x 200, 3 x 404 (target), 3 x 503 (the proxy's fixed response). _reloaded: a new
worker after a reload, 5 x 200 since.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.lb.alb_metrics import (
    AlbNames,
    CounterTracker,
    ProxyRow,
    TargetCounts,
    alb_names,
    alb_samples,
    load_balancer_dimension,
    parse_counters,
    target_group_dimension,
    worker_pid,
)
from dockyard.lb.model import Action, LbModel, Listener, Rule, Target, TargetGroup
from dockyard.metrics.model import MetricKey

DATA = Path(__file__).parent / "data"
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/50dc6c495c0c9188"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/73e2d6bc24d8a067"
LB, TG = "app/web/50dc6c495c0c9188", "targetgroup/web/73e2d6bc24d8a067"
NOW = 1_700_000_000.0


def _text(name: str) -> str:
    return (DATA / f"haproxy_stat_{name}.csv").read_text()


def _target(ident: str, state: str) -> Target:
    return Target(f"{TG_ARN}|{ident}|80", TG_ARN, ident, 80, "127.0.0.1", state)


MODEL = LbModel(
    load_balancers=("web",),
    listeners=(
        Listener(
            LISTENER,
            "web",
            18000,
            Action("forward", groups=((TG_ARN, 1),)),
            rules=(Rule("r1", 1, (), Action("fixed-response", status=503)),),
        ),
    ),
    target_groups=(TargetGroup(TG_ARN, "web", 80, in_use=True),),
    targets=(_target("i-1", "healthy"), _target("i-2", "unhealthy"), _target("i-3", "draining")),
)


def _values(samples: list, name: str) -> dict[tuple[tuple[str, str], ...], tuple[float, float]]:
    return {
        key.dimensions: (stats.sum, stats.sample_count)
        for key, _t, stats, _u in samples
        if key.name == name
    }


def test_dimensions_in_aws_forms() -> None:
    assert load_balancer_dimension(LB_ARN) == LB
    assert load_balancer_dimension(LISTENER) == LB
    assert target_group_dimension(TG_ARN) == TG
    assert load_balancer_dimension("nonsense") is None


def test_names_map_proxies_back_to_the_model() -> None:
    names = alb_names(MODEL)
    assert names.frontends == {"lb-web-18000": LB}
    assert names.backends == {"tg-web": (TG, LB)}
    assert names.targets == {"tg-web": TargetCounts(healthy=1, unhealthy=1, serving=2)}


def test_parse_counters_of_a_recording() -> None:
    rows = parse_counters(_text("1"))
    assert rows["lb-web-18000", "FRONTEND"].counters["req_tot"] == 26
    assert rows["tg-web", "BACKEND"].counters["hrsp_4xx"] == 3
    assert rows["tg-web", "t-aaa"].type == "2"
    assert rows["tg-web", "BACKEND"].rtime_ms == 0
    assert parse_counters("Pid: 4\n\n") == {}
    assert worker_pid("Name: HAProxy\nPid: 27484\nUptime_sec: 3\n") == 27484


def test_one_interval_of_recorded_traffic() -> None:
    tracker = CounterTracker()
    assert tracker.advance(parse_counters(_text("0")), 100) is None  # baseline
    rows = parse_counters(_text("1"))
    deltas = tracker.advance(rows, 100)
    assert deltas is not None
    samples = alb_samples(alb_names(MODEL), rows, deltas, NOW)
    both = (("LoadBalancer", LB), ("TargetGroup", TG))
    assert _values(samples, "RequestCount") == {
        (("LoadBalancer", LB),): (26, 1),
        (("TargetGroup", TG),): (23, 1),
        both: (23, 1),
    }
    assert _values(samples, "HTTPCode_Target_2XX_Count")[both] == (20, 1)
    assert _values(samples, "HTTPCode_Target_4XX_Count")[(("LoadBalancer", LB),)] == (3, 1)
    assert "HTTPCode_Target_5XX_Count" not in {k.name for k, *_ in samples}
    assert _values(samples, "HTTPCode_ELB_5XX_Count") == {(("LoadBalancer", LB),): (3, 1)}
    assert _values(samples, "RequestCountPerTarget")[(("TargetGroup", TG),)] == (23, 1)
    assert _values(samples, "HealthyHostCount") == {both: (1, 1)}
    assert _values(samples, "UnHealthyHostCount") == {both: (1, 1)}
    response = _values(samples, "TargetResponseTime")
    assert response[both] == (0.0, 23)
    assert all(t == NOW for _k, t, _s, _u in samples)
    units = {k.name: u for k, _t, _s, u in samples}
    assert units["TargetResponseTime"] == "Seconds" and units["RequestCount"] == "Count"


def test_a_reload_restarts_counters() -> None:
    """After a reload the new worker counts from zero: its values are the deltas."""
    tracker = CounterTracker()
    tracker.advance(parse_counters(_text("1")), 100)
    rows = parse_counters(_text("reloaded"))
    deltas = tracker.advance(rows, 200)
    assert deltas is not None
    samples = alb_samples(alb_names(MODEL), rows, deltas, NOW)
    assert _values(samples, "RequestCount")[(("LoadBalancer", LB),)] == (5, 1)


@pytest.mark.parametrize(
    ("before", "after", "same_worker", "delta"),
    [
        pytest.param(10, 25, True, 15, id="grows"),
        pytest.param(10, 4, True, 4, id="went-down-means-restart"),
        pytest.param(10, 25, False, 25, id="new-worker"),
        pytest.param(None, 7, True, 7, id="new-row"),
    ],
)
def test_counter_deltas(before: int | None, after: int, same_worker: bool, delta: int) -> None:
    def rows(value: int | None) -> dict[tuple[str, str], ProxyRow]:
        if value is None:
            return {}
        return {("fe", "FRONTEND"): ProxyRow("fe", "FRONTEND", "0", {"req_tot": value})}

    tracker = CounterTracker()
    tracker.advance(rows(before), 1)
    deltas = tracker.advance(rows(after), 1 if same_worker else 2)
    assert deltas == {("fe", "FRONTEND"): {"req_tot": delta}}


def test_target_5xx_from_servers_and_elb_5xx_is_the_rest() -> None:
    names = AlbNames({"fe": LB}, {"be": (TG, LB)}, {"be": TargetCounts(0, 0, 0)})
    counters = {"req_tot": 10, "hrsp_5xx": 6}
    rows = {
        ("fe", "FRONTEND"): ProxyRow("fe", "FRONTEND", "0", counters),
        ("be", "BACKEND"): ProxyRow("be", "BACKEND", "1", counters),
        ("be", "s1"): ProxyRow("be", "s1", "2", {"req_tot": 4, "hrsp_5xx": 2}),
    }
    deltas = {key: dict(row.counters) for key, row in rows.items()}
    samples = alb_samples(names, rows, deltas, NOW)
    assert _values(samples, "HTTPCode_Target_5XX_Count")[(("LoadBalancer", LB),)] == (2, 1)
    assert _values(samples, "HTTPCode_ELB_5XX_Count") == {(("LoadBalancer", LB),): (4, 1)}
    assert "RequestCountPerTarget" not in {k.name for k, *_ in samples}  # no targets at all


def test_idle_intervals_still_report_zero_requests() -> None:
    rows = parse_counters(_text("1"))
    tracker = CounterTracker()
    tracker.advance(rows, 1)
    deltas = tracker.advance(rows, 1)
    assert deltas is not None
    samples = alb_samples(alb_names(MODEL), rows, deltas, NOW)
    per_target = MetricKey.of("AWS/ApplicationELB", "RequestCountPerTarget", {"TargetGroup": TG})
    assert [s.sum for k, _t, s, _u in samples if k == per_target] == [0]
    assert "TargetResponseTime" not in {k.name for k, *_ in samples}


def test_network_load_balancers_get_no_application_elb_metrics() -> None:
    nlb_listener = LISTENER.replace("/app/web/", "/net/edge/")
    nlb_group = TG_ARN.replace("/web/", "/edge/")
    model = LbModel(
        load_balancers=("web", "edge"),
        listeners=(
            *MODEL.listeners,
            Listener(
                nlb_listener,
                "edge",
                19000,
                Action("forward", groups=((nlb_group, 1),)),
                protocol="TCP",
            ),
        ),
        target_groups=(
            *MODEL.target_groups,
            TargetGroup(nlb_group, "edge", 80, in_use=True, protocol="TCP"),
        ),
        targets=(
            *MODEL.targets,
            Target(f"{nlb_group}|i-9|80", nlb_group, "i-9", 80, None, "healthy"),
        ),
    )
    names = alb_names(model)
    assert names == alb_names(MODEL)
    rows = parse_counters(_text("1"))
    deltas = {key: dict(row.counters) for key, row in rows.items()}
    dimensions = {
        dict(k.dimensions).get("LoadBalancer") for k, *_ in alb_samples(names, rows, deltas, NOW)
    }
    assert "net/edge/50dc6c495c0c9188" not in dimensions
