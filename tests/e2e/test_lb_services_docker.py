"""ECS services behind an application load balancer, on real Docker and a real HAProxy.

Each test gets conftest's `stack` (lb_stack.py): its own `dockyard server` and two Docker
agents on 127.0.1.1 and 127.0.1.2, set up as examples/walkthrough/run.sh does for `auth`:
a target group with health checks on the traffic port (interval 5 s, healthy and unhealthy
thresholds 2, deregistration delay 5 s), a load balancer with a listener on a port in
20000-30000, and a service of 2 tasks (dockyard-demo/auth:1, container port 10080, dynamic
host ports) registered in the group. Everything goes through boto3 `ecs` and `elbv2`
clients; traffic goes through the listener on loopback.

Every request loop is bounded in count and in time; containers, agents, the server and its
HAProxy are cleaned up even when a test fails.
"""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest

from tests.e2e.conftest import pick_port, stop_haproxy, wait_for
from tests.e2e.lb_stack import (
    HEALTH_WINDOW_S,
    WALKTHROUGH,
    Load,
    Stack,
    failed,
    request,
    summary,
)

pytestmark = pytest.mark.e2e

# Importable from here for test_autoscaling_lb_docker and test_fargate_awsvpc_docker.
_stop_haproxy = stop_haproxy
__all__ = [
    "WALKTHROUGH",
    "Load",
    "Stack",
    "_stop_haproxy",
    "failed",
    "pick_port",
    "request",
    "summary",
]


def test_target_health_lists_exactly_the_running_tasks(stack: Stack) -> None:
    running = stack.running()
    assert len(running) == 2
    ids = stack.instance_ids()
    assert len({t["containerInstanceArn"] for t in running}) == 2, "spread over both instances"
    expected = stack.pairs_of(running)
    assert len(expected) == 2
    assert {instance for instance, _ in expected} == set(ids.values())

    described = stack.elbv2.describe_target_health(TargetGroupArn=stack.tg_arn)[
        "TargetHealthDescriptions"
    ]
    listed = {(d["Target"]["Id"], int(d["Target"]["Port"])) for d in described}
    assert listed == expected
    assert len(described) == len(expected)
    for description in described:
        assert description["TargetHealth"] == {"State": "healthy"}, description
        # health checks on the traffic port: the task's own dynamic host port
        assert description["HealthCheckPort"] == str(description["Target"]["Port"])

    # The targets are the routes: the listener reaches both tasks and nothing else.
    seen = {stack.task_of_answer() for _ in range(10)}
    assert seen == {t["taskArn"] for t in running}
    assert stack.get("/") == (200, "auth v1\n")


def test_killed_container_is_replaced_and_traffic_fails_at_most_a_health_window(
    stack: Stack,
) -> None:
    before = stack.running()
    victim = before[0]
    survivor_pairs = stack.pairs_of(before[1:])
    (victim_pair,) = stack.pairs_of([victim])
    client = docker.from_env()

    observed: dict[str, float] = {}
    with Load(
        stack.lb_host, stack.lb_port, rate=20, threads=2, max_requests=1400, max_seconds=70
    ) as load:
        time.sleep(2)  # a baseline of successes first
        assert load.snapshot() and not any(failed(o) for o in load.snapshot()), summary(
            load.snapshot()
        )
        container = client.containers.get(victim["containers"][0]["runtimeId"])
        killed_at = time.monotonic()  # before the call: the container may die mid-call
        container.kill()

        def victim_out() -> str | None:
            state = stack.states().get(victim_pair)
            if state in (None, "unhealthy", "draining"):
                return state or "deregistered"
            return None

        observed["victim"] = wait_for(
            victim_out,
            timeout=HEALTH_WINDOW_S + 5,
            interval=0.2,
            what="killed task's target unhealthy or deregistered",
        )
        observed["victim_out_s"] = time.monotonic() - killed_at

        def replaced() -> dict[str, Any] | None:
            settled = stack.settled(2)
            if settled is None or victim["taskArn"] in {t["taskArn"] for t in settled["tasks"]}:
                return None
            return settled

        settled = wait_for(
            replaced, timeout=60, interval=0.3, what="replacement registered and healthy"
        )
        observed["replaced_s"] = time.monotonic() - killed_at
        time.sleep(2)  # successes through the replacement too
        outcomes = load.stop()

    new_pairs = settled["pairs"] - survivor_pairs
    assert len(new_pairs) == 1 and victim_pair not in settled["pairs"]
    assert survivor_pairs <= settled["pairs"]
    assert victim_pair not in stack.target_health() or stack.states()[victim_pair] == "draining"
    messages = [e["message"] for e in stack.service()["events"]]
    assert any("has started 1 tasks" in m for m in messages)

    bad = [o for o in outcomes if failed(o)]
    span = bad[-1].at - bad[0].at if bad else 0.0
    print(
        f"\nkill: target {observed['victim']} after {observed['victim_out_s']:.1f}s, "
        f"replacement healthy after {observed['replaced_s']:.1f}s; {summary(outcomes)}; "
        f"failures spanned {span:.2f}s"
    )
    assert len(outcomes) >= 20 * 10, summary(outcomes)  # the load really ran all along
    assert span <= HEALTH_WINDOW_S, (
        f"failures for {span:.1f}s > {HEALTH_WINDOW_S}s: {summary(outcomes)}"
    )
    if bad:
        assert bad[0].at >= killed_at, "failures before the kill"
    # After the window the listener answers again: the last few seconds are clean.
    assert not any(failed(o) for o in outcomes if o.at > outcomes[-1].at - 2), summary(outcomes)
    assert {o.body for o in outcomes if not failed(o)} == {"auth v1\n"}


def test_rolling_update_under_load_has_no_errors(stack: Stack) -> None:
    old = stack.wait_settled(2)
    old_pairs = old["pairs"]
    second = stack.register(WALKTHROUGH / "auth-taskdef-v2.json")
    load = Load(
        stack.lb_host, stack.lb_port, rate=60, threads=6, max_requests=6000, max_seconds=100
    )
    settled, took, outcomes = stack.roll_out_under_load(second, load, timeout=80)

    print(f"\nrollout in {took:.1f}s; {summary(outcomes)}")
    assert len(outcomes) >= 50 * took * 0.8, summary(outcomes)  # ~60 req/s all along
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    bodies = [o.body for o in outcomes]
    assert set(bodies) <= {"auth v1\n", "auth v2\n"}
    assert "auth v1\n" in bodies and "auth v2\n" in bodies
    # Once v2 answered, v1 may still answer only while its targets drain (5 s).
    first_v2 = next(o.at for o in outcomes if o.body == "auth v2\n")
    last_v1 = max(o.at for o in outcomes if o.body == "auth v1\n")
    assert last_v1 < outcomes[-1].at, "v1 still answering at the end"
    tail = [o.body for o in outcomes if o.at > last_v1]
    assert tail and set(tail) == {"auth v2\n"}
    print(f"v1 and v2 both answered for {max(0.0, last_v1 - first_v2):.1f}s")

    service = settled["service"]
    assert service["taskDefinition"] == second
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["deployments"][0]["taskDefinition"] == second
    health = stack.target_health()
    assert set(health) == settled["pairs"], "exactly the new tasks' targets"
    assert not (old_pairs & set(health)), "old targets gone"
    assert {t["taskDefinitionArn"] for t in stack.tasks() if t["desiredStatus"] == "RUNNING"} == {
        second
    }
    after = [stack.get("/") for _ in range(10)]
    assert after == [(200, "auth v2\n")] * 10


def test_listener_rule_changes_under_load_have_no_errors(stack: Stack) -> None:
    def rule_answers(body: str) -> bool:
        return stack.get("/discover/") == (200, body)

    def forwarded() -> bool:
        status, body = stack.get("/discover/")
        return status == 200 and body.startswith("{") and "DOCKYARD_TASK_ARN" in body

    with Load(
        stack.lb_host,
        stack.lb_port,
        paths=("/", "/discover/"),
        rate=60,
        threads=4,
        max_requests=4000,
        max_seconds=60,
    ) as load:
        time.sleep(1)
        rule_arn = stack.elbv2.create_rule(
            ListenerArn=stack.listener_arn,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/discover/*"]}],
            Actions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/plain",
                        "MessageBody": "rule one",
                    },
                }
            ],
        )["Rules"][0]["RuleArn"]
        wait_for(
            lambda: rule_answers("rule one"), timeout=15, interval=0.2, what="rule one serving"
        )
        time.sleep(0.5)  # the load meets this version too
        stack.elbv2.modify_rule(
            RuleArn=rule_arn,
            Actions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/plain",
                        "MessageBody": "rule two",
                    },
                }
            ],
        )
        wait_for(
            lambda: rule_answers("rule two"), timeout=15, interval=0.2, what="rule two serving"
        )
        time.sleep(0.5)  # the load meets this version too
        stack.elbv2.modify_rule(
            RuleArn=rule_arn,
            Conditions=[{"Field": "path-pattern", "Values": ["/discover*"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": stack.tg_arn}],
        )
        wait_for(forwarded, timeout=15, interval=0.2, what="rule forwarding to the target group")
        time.sleep(1)
        outcomes = load.stop()

    print(f"\nrule changes: {summary(outcomes)}")
    assert len(outcomes) >= 100, summary(outcomes)
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    assert {o.body for o in outcomes if o.path == "/"} == {"auth v1\n"}
    discover = {
        o.body if not o.body.startswith("{") else "json" for o in outcomes if o.path == "/discover/"
    }
    assert discover <= {"json", "rule one", "rule two"}
    assert {"rule one", "rule two", "json"} <= discover, "load saw every rule version"
    last_two = max(o.at for o in outcomes if o.body == "rule two")
    assert any(o.body.startswith("{") for o in outcomes if o.at > last_two), (
        "forward after rule two"
    )
    rules = stack.elbv2.describe_rules(ListenerArn=stack.listener_arn)["Rules"]
    (rule,) = [r for r in rules if r["RuleArn"] == rule_arn]
    assert rule["Conditions"][0]["Field"] == "path-pattern"
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/discover*"]
    assert rule["Actions"][0]["Type"] == "forward"
    # The targets never moved: a rule change reloads HAProxy, it does not touch them.
    assert stack.settled(2) is not None
