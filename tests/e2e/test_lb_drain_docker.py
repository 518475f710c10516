"""Drains that end when the connections do, and retries that hide a dying task.

Real Docker, a real HAProxy and boto3, reusing lb_stack.py's stack (conftest's `stack`: two
agents, the walkthrough's auth service behind a listener) and its bounded `Load`:

- with the target group's DEFAULT deregistration delay (300 s) a rolling update under
  a GET load completes in well under 60 s with zero failed requests: each old target
  leaves `draining` as soon as HAProxy shows it idle (no `scur`, no `qcur`);
- `docker kill` of a task's container under a GET load fails no request: HAProxy
  retries an idempotent request once on another server (retry-on + redispatch),
  and the task is replaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lb_stack import WALKTHROUGH, Load, Stack, failed, running_stack, summary

pytestmark = pytest.mark.e2e
ROLLOUT_LIMIT_S = 60


@pytest.fixture
def default_delay_stack(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Stack]:
    with running_stack(tmp_path, docker_images, deregistration_delay_s=None) as built:
        yield built


def test_rollout_with_the_default_delay_takes_the_time_connections_take(
    default_delay_stack: Stack,
) -> None:
    stack = default_delay_stack
    attributes = stack.elbv2.describe_target_group_attributes(TargetGroupArn=stack.tg_arn)
    delay = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
    assert delay["deregistration_delay.timeout_seconds"] == "300"
    old_arns = [t["taskArn"] for t in stack.running()]
    second = stack.register(WALKTHROUGH / "auth-taskdef-v2.json")
    load = Load(stack.lb_host, stack.lb_port, rate=40, threads=4, max_requests=4000, max_seconds=90)
    settled, took, outcomes = stack.roll_out_under_load(
        second, load, timeout=ROLLOUT_LIMIT_S + 10, old_arns=old_arns, after_s=1.0
    )

    print(f"\nrollout with a 300 s deregistration delay in {took:.1f}s; {summary(outcomes)}")
    assert took < ROLLOUT_LIMIT_S, f"rollout took {took:.1f}s"
    assert len(outcomes) >= 30 * took * 0.8, summary(outcomes)  # the load ran all along
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    assert {o.body for o in outcomes} == {"auth v1\n", "auth v2\n"}
    assert set(stack.target_health()) == settled["pairs"], "exactly the new tasks' targets"


def test_killed_container_under_get_load_fails_no_request(stack: Stack) -> None:
    before = stack.running()
    victim = before[0]
    client = docker.from_env()
    with Load(
        stack.lb_host, stack.lb_port, rate=30, threads=3, max_requests=3000, max_seconds=80
    ) as load:
        time.sleep(2)
        killed_at = time.monotonic()
        client.containers.get(victim["containers"][0]["runtimeId"]).kill()

        def replaced() -> dict[str, Any] | None:
            settled = stack.settled(2)
            if settled is None or victim["taskArn"] in {t["taskArn"] for t in settled["tasks"]}:
                return None
            return settled

        wait_for(replaced, timeout=60, interval=0.3, what="replacement registered and healthy")
        took = time.monotonic() - killed_at
        time.sleep(2)  # successes through the replacement too
        outcomes = load.stop()

    print(f"\nkill: replacement healthy after {took:.1f}s; {summary(outcomes)}")
    assert len(outcomes) >= 20 * took, summary(outcomes)
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    assert {o.body for o in outcomes} == {"auth v1\n"}
