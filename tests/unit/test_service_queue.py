"""The service controller's work queue, safety pass and change routing: pure, fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.controllers.instances import plan_expiry
from dockyard.controllers.services.queue import SafetyPass, WorkQueue
from dockyard.controllers.services.runner import service_arn_of_group

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/stage01"


def drain(queue: WorkQueue, now: float) -> list[str]:
    out = []
    for _ in range(1000):
        key = queue.pop(now)
        if key is None:
            return out
        out.append(key)
        queue.done(key)
    raise AssertionError("queue never emptied")


def test_a_key_is_queued_once() -> None:
    queue = WorkQueue()
    for key in ["a", "b", "a", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert drain(queue, 0.0) == ["a", "b", "c"]


def test_a_key_added_while_processing_runs_again_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert queue.pop(0.0) == "a"
    queue.add("a")  # a change landed during the step
    assert queue.pop(0.0) is None  # never handed out twice at once
    queue.add("a")
    queue.done("a")
    assert drain(queue, 0.0) == ["a"]  # once more, not twice


def test_delayed_add_waits_and_an_immediate_add_supersedes_it() -> None:
    queue = WorkQueue()
    queue.add_after("a", 5.0, now=100.0)
    assert queue.pop(104.9) is None
    assert queue.next_due() == 105.0
    assert queue.pop(105.0) == "a"
    queue.done("a")
    queue.add_after("b", 5.0, now=200.0)
    queue.add("b")
    assert queue.next_due() is None
    assert drain(queue, 200.0) == ["b"]
    assert drain(queue, 300.0) == []  # the delayed add was dropped, not run twice


def test_the_earlier_of_two_delayed_adds_wins() -> None:
    queue = WorkQueue()
    queue.add_after("a", 10.0, now=0.0)
    queue.add_after("a", 2.0, now=0.0)
    queue.add_after("a", 8.0, now=0.0)
    assert queue.next_due() == 2.0
    assert drain(queue, 2.0) == ["a"]
    assert drain(queue, 20.0) == []


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.6), (20, 30.0)],
)
def test_retry_backs_off_exponentially_up_to_the_cap(failures: int, delay: float) -> None:
    queue = WorkQueue(base_delay_s=0.1, max_delay_s=30.0)
    chosen = 0.0
    for _ in range(failures):
        key = queue.pop(1e9) if len(queue) else None
        if key is not None:
            queue.done(key)
        chosen = queue.retry("a", now=0.0)
    assert chosen == pytest.approx(delay)
    queue.forget("a")
    assert queue.failures("a") == 0
    assert queue.backoff_s("a") == 0.0


def test_retry_of_a_key_in_flight_is_due_after_the_backoff() -> None:
    queue = WorkQueue(base_delay_s=1.0)
    queue.add("a")
    assert queue.pop(0.0) == "a"
    queue.retry("a", now=0.0)
    queue.done("a")
    assert queue.pop(0.5) is None
    assert queue.pop(1.0) == "a"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["add", "pop", "done", "later"]), st.sampled_from("abc")))
)
def test_no_key_is_ever_in_flight_twice_or_lost(ops: list[tuple[str, str]]) -> None:
    queue = WorkQueue()
    in_flight: set[str] = set()
    wanted: set[str] = set()  # added (or re-added) since its last pop
    now = 0.0
    for op, key in ops:
        now += 1.0
        if op == "add":
            queue.add(key)
            wanted.add(key)
        elif op == "later":
            queue.add_after(key, 0.5, now)
            wanted.add(key)
        elif op == "pop":
            got = queue.pop(now)
            if got is not None:
                assert got not in in_flight
                in_flight.add(got)
                wanted.discard(got)
        elif key in in_flight:
            queue.done(key)
            in_flight.discard(key)
    for key in sorted(in_flight):
        queue.done(key)
    assert set(drain(queue, now + 10.0)) == wanted


def test_safety_pass_spreads_keys_over_the_period() -> None:
    safety = SafetyPass(period_s=30.0)
    assert safety.due(0.0)
    safety.start([f"s{i:03}" for i in range(100)], now=0.0)
    assert safety.take(0.0) == ["s000"]
    assert len(safety.take(15.0)) == 50  # half the period: half the keys, in all
    assert safety.take(15.0) == []  # never twice
    assert safety.next_release() == pytest.approx(15.3)
    assert not safety.due(29.0)
    rest = safety.take(30.0)
    assert rest[-1] == "s099" and len(rest) == 49
    assert safety.next_release() == 30.0
    assert safety.due(30.0)


def test_safety_pass_waits_for_the_period_even_when_keys_run_out_early() -> None:
    safety = SafetyPass(period_s=30.0)
    safety.start(["a"], now=0.0)
    assert safety.take(0.0) == ["a"]
    assert not safety.due(10.0)
    assert safety.due(30.0)
    safety.start([], now=30.0)
    assert safety.take(31.0) == []
    assert safety.due(60.0)


def test_a_safety_pass_over_many_keys_lengthens_to_its_spacing() -> None:
    safety = SafetyPass(period_s=30.0, spacing_s=0.5)
    safety.start([f"s{i:04}" for i in range(1000)], now=0.0)  # 1,000 keys: a 500 s pass
    assert len(safety.take(0.0)) == 1
    assert len(safety.take(30.0)) == 60  # two a second, not all 1,000 within 30 s
    assert not safety.due(100.0)
    assert len(safety.take(500.0)) == 1000 - 61
    assert safety.due(500.0)
    safety.start(["a", "b"], now=500.0)  # few keys: the period again
    assert safety.next_release() == 500.0
    assert safety.take(500.0) == ["a"]
    assert safety.next_release() == pytest.approx(515.0)


@pytest.mark.parametrize(
    ("group", "arn"),
    [
        ("service:web", "arn:aws:ecs:us-east-1:000000000000:service/stage01/web"),
        ("family:web", None),
        ("", None),
    ],
)
def test_a_task_group_names_its_service(group: str, arn: str | None) -> None:
    assert service_arn_of_group(CLUSTER, group) == arn


def test_expiry_deletes_past_retention_and_stamps_the_rest() -> None:
    rows = [
        {"taskArn": "old", "stoppedAt": 100.0},
        {"taskArn": "recent", "stoppedAt": 3000.0},
        {"taskArn": "unknown"},  # no stoppedAt: kept for a retention from now
        {"taskArn": "exactly", "stoppedAt": 400.0},
    ]
    delete, stamp = plan_expiry(rows, now=4000.0, retention_s=3600.0)
    assert delete == ["old"]
    assert stamp == {"recent": 3000.0, "unknown": 4000.0, "exactly": 400.0}
