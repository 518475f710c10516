"""The alarm controller on real in-memory stores, a fake clock and a recording sink."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.alarms import store as alarms
from dockyard.alarms.actions import ActionRouter, AlarmInvocation
from dockyard.context import ApiContext
from dockyard.controllers.alarms import AlarmController, AlarmSettings, evaluate_alarm
from dockyard.metrics import MetricKey, MetricsStore, StatisticSet
from dockyard.store import Kind
from dockyard.store.sql import open_store

POLICY = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:abc:resource/ecs/service/c/s"
T0 = 1_800_000_000.0  # a multiple of 10 and 60


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[ApiContext, Clock, list[AlarmInvocation]]:
    clock = Clock()
    router = ActionRouter()
    calls: list[AlarmInvocation] = []
    router.register("arn:aws:autoscaling:", calls.append)
    metrics = MetricsStore(None, clock=clock, flush_interval_s=None)
    ctx = ApiContext(store=open_store("sqlite://"), clock=clock, metrics=metrics)
    ctx.alarm_actions = router
    return ctx, clock, calls


def put(ctx: ApiContext, **overrides: Any) -> None:
    params = {
        "AlarmName": "high",
        "Namespace": "App",
        "MetricName": "Load",
        "Statistic": "Average",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 50.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": [POLICY],
        **overrides,
    }
    with ctx.store.transaction() as tx:
        alarms.put_alarm(tx, ctx.identity, params, ctx.now(), owner=POLICY)


def sample(ctx: ApiContext, at: float, value: float) -> None:
    assert ctx.metrics is not None
    ctx.metrics.put([(MetricKey.of("App", "Load"), at, StatisticSet.of(value), "None")])


def state(ctx: ApiContext) -> str:
    with ctx.store.read() as tx:
        doc = alarms.find_alarm(tx, "high")
    assert doc is not None
    return str(doc["StateValue"])


def step(controller: AlarmController, clock: Clock, at: float) -> dict[str, int]:
    clock.now = at
    return asyncio.run(controller.step(at))


def test_crossing_fires_then_repeats_autoscaling_actions_each_period(setup: Any) -> None:
    ctx, clock, calls = setup
    controller = AlarmController(ctx, AlarmSettings(settle_s=2.0))
    put(ctx)
    sample(ctx, T0 + 1, 80.0)
    # the period [T0, T0+10) is still running: not judged, no data yet -> INSUFFICIENT_DATA
    assert step(controller, clock, T0 + 5) == {"kept": 1}
    assert state(ctx) == "INSUFFICIENT_DATA"
    # judged once it ended (plus the settle delay)
    assert step(controller, clock, T0 + 12) == {"changed": 1}
    assert state(ctx) == "ALARM"
    assert [(c.action_arn, c.state, c.metric_value) for c in calls] == [(POLICY, "ALARM", 80.0)]
    # not judged again within the same period
    assert step(controller, clock, T0 + 15) == {}
    # next period, still breaching: the Auto Scaling action is invoked again
    sample(ctx, T0 + 11, 90.0)
    assert step(controller, clock, T0 + 22) == {"kept": 1}
    assert [c.metric_value for c in calls] == [80.0, 90.0]
    # back below: OK, and OK has no actions
    sample(ctx, T0 + 21, 10.0)
    assert step(controller, clock, T0 + 32) == {"changed": 1}
    assert state(ctx) == "OK"
    assert len(calls) == 2
    with ctx.store.read() as tx:
        summaries = [d["HistorySummary"] for d in tx.find(Kind.ALARM_HISTORY)]
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in summaries
    assert "Alarm updated from ALARM to OK" in summaries
    assert summaries.count(f"Successfully executed action {POLICY}") == 1  # repeats not logged


def test_disabled_actions_are_not_invoked(setup: Any) -> None:
    ctx, clock, calls = setup
    put(ctx, ActionsEnabled=False)
    sample(ctx, T0 + 1, 80.0)
    step(AlarmController(ctx), clock, T0 + 12)
    assert state(ctx) == "ALARM"
    assert calls == []


def test_reconfigured_alarm_drops_the_stale_evaluation(setup: Any) -> None:
    ctx, clock, _calls = setup
    controller = AlarmController(ctx)
    put(ctx)
    sample(ctx, T0 + 1, 80.0)
    clock.now = T0 + 12
    docs = controller.due(controller.load(), clock.now - 2)
    put(ctx, Threshold=100.0)  # changed after the evaluation read it
    result = evaluate_alarm(docs[0], ctx.metrics, clock.now - 2)
    assert controller.apply(docs[0], result, clock.now - 2) == "stale"
    assert state(ctx) == "INSUFFICIENT_DATA"
    # judged again, under the new threshold: 80 is not above 100
    assert step(controller, clock, T0 + 13) == {"changed": 1}
    assert state(ctx) == "OK"


def test_router_routes_by_longest_prefix_and_reports_failures() -> None:
    router = ActionRouter()
    seen: list[str] = []
    router.register("arn:aws:autoscaling:", lambda inv: seen.append("general"))
    router.register("arn:aws:autoscaling:us-east-1:", lambda inv: seen.append("regional"))

    def broken(_inv: AlarmInvocation) -> None:
        raise RuntimeError("policy gone")

    router.register("arn:aws:lambda:", broken)

    def call(arn: str) -> Any:
        return router(AlarmInvocation(arn, "a", "arn:a", "ALARM", 1.0, 2.0, "why", T0))

    assert call("arn:aws:autoscaling:us-east-1:0:scalingPolicy:x").succeeded
    assert call("arn:aws:autoscaling:eu-west-1:0:scalingPolicy:x").succeeded
    assert seen == ["regional", "general"]
    failed = call("arn:aws:lambda:us-east-1:0:function:f")
    assert (failed.succeeded, failed.message) == (False, "policy gone")
    unknown = call("arn:aws:sns:us-east-1:0:topic")
    assert not unknown.succeeded and "No handler" in unknown.message


def test_owned_alarms_are_refused_to_users_and_deleted_with_their_policy(setup: Any) -> None:
    ctx, _clock, _calls = setup
    put(ctx)
    with ctx.store.transaction() as tx, pytest.raises(Exception, match="managed by"):
        alarms.delete_alarms(tx, ["high"], T0)
    with ctx.store.transaction() as tx, pytest.raises(Exception, match="managed by"):
        alarms.put_alarm(
            tx,
            ctx.identity,
            {
                "AlarmName": "high",
                "Namespace": "App",
                "MetricName": "Load",
                "Statistic": "Average",
                "Period": 10,
                "EvaluationPeriods": 1,
                "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanThreshold",
            },
            T0,
        )
    with ctx.store.transaction() as tx:
        assert alarms.alarm_owner(tx, "high") == POLICY
        assert alarms.delete_alarms_owned_by(tx, POLICY, T0) == ["high"]
        assert alarms.find_alarm(tx, "high") is None
