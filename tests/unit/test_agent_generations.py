"""Generations and deltas (wire/generations.py): both ends of the protocol, pure.

Table cases for the server's plan on connect/resync and the agent's decisions, then a
property: whatever changes happen, whatever messages are lost and however often the
agent reconnects or restarts, the healing rules bring the agent's set to the server's.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.wire.agent import DesiredMessage, WireTask
from dockyard.wire.generations import AgentView, Applied, InstanceView, Resync

DEF_A = "arn:aws:ecs:us-east-1:000000000000:task-definition/a:1"
DEF_B = "arn:aws:ecs:us-east-1:000000000000:task-definition/b:1"


def task(n: int, status: str = "RUNNING", definition: str = DEF_A) -> WireTask:
    return {
        "taskArn": f"t{n}",
        "desiredStatus": status,
        "lastStatus": "PENDING",
        "taskDefinitionArn": definition,
        "overrides": {},
        "containers": [],
    }


def lookup(arn: str) -> dict[str, Any]:
    return {"taskDefinitionArn": arn, "containerDefinitions": []}


def new_view(start: int = 100) -> InstanceView:
    counter = itertools.count(start)
    return InstanceView(lambda: next(counter))


def synced_view(*tasks: WireTask) -> InstanceView:
    view = new_view()
    first = view.full(list(tasks), lookup, now=0.0)
    view.ack(first["generation"], now=0.0)
    return view


# -- server: messages ---------------------------------------------------------------------
def test_one_changed_task_of_200_makes_a_one_task_delta() -> None:
    view = synced_view(*(task(n) for n in range(200)))
    before = view.generation
    assert view.record("t7", task(7, "STOPPED"))
    message = view.delta(lookup, now=1.0)
    assert message is not None
    assert [t["taskArn"] for t in message["tasks"]] == ["t7"]
    assert message["base"] == before and message["generation"] > before
    assert message["taskDefinitions"] == {}  # the agent has DEF_A already
    assert message["removed"] == []


@pytest.mark.parametrize(
    ("changes", "tasks", "removed", "definitions"),
    [
        pytest.param([("t1", task(1))], [], [], [], id="unchanged-is-no-change"),
        pytest.param([("t1", {**task(1), "lastStatus": "RUNNING"})], [], [], [], id="lastStatus"),
        pytest.param([("t9", task(9))], ["t9"], [], [], id="added-known-definition"),
        pytest.param([("t9", task(9, definition=DEF_B))], ["t9"], [], [DEF_B], id="new-def"),
        pytest.param([("t1", None)], [], ["t1"], [], id="given-up"),
        pytest.param([("t9", task(9)), ("t9", None)], [], ["t9"], [], id="added-then-gone"),
        pytest.param([("t8", None)], [], [], [], id="unknown-gone"),
    ],
)
def test_delta_contents(
    changes: list[tuple[str, WireTask | None]],
    tasks: list[str],
    removed: list[str],
    definitions: list[str],
) -> None:
    view = synced_view(task(1), task(2))
    for arn, entry in changes:
        view.record(arn, entry)
    message = view.delta(lookup, now=1.0)
    if not (tasks or removed):
        assert message is None
        return
    assert message is not None
    assert [t["taskArn"] for t in message["tasks"]] == tasks
    assert message["removed"] == removed
    assert sorted(message["taskDefinitions"]) == definitions


def test_definitions_travel_once_per_agent() -> None:
    view = synced_view()
    view.record("t1", task(1, definition=DEF_B))
    first = view.delta(lookup, now=0.0)
    view.record("t2", task(2, definition=DEF_B))
    second = view.delta(lookup, now=0.0)
    assert first is not None and second is not None
    assert list(first["taskDefinitions"]) == [DEF_B] and second["taskDefinitions"] == {}


def test_reported_stopped_tasks_leave_silently() -> None:
    view = synced_view(task(1))
    view.forget("t1")
    assert view.delta(lookup, now=0.0) is None
    assert view.reconcile([]) == 0


def test_reconcile_sends_only_the_difference() -> None:
    view = synced_view(task(1), task(2), task(3))
    assert view.reconcile([task(1), task(2, "STOPPED"), task(4)]) == 3
    message = view.delta(lookup, now=0.0)
    assert message is not None
    assert sorted(t["taskArn"] for t in message["tasks"]) == ["t2", "t4"]
    assert message["removed"] == ["t3"]


# -- server: acknowledgements, connect and resync ---------------------------------------------
@pytest.mark.parametrize(
    ("agent", "plan"),
    [
        pytest.param("zero", "full", id="agent-restarted"),
        pytest.param("current", "none", id="same-generation"),
        pytest.param("acked", "resend", id="last-message-lost"),
        pytest.param("older", "full", id="older-than-acked"),
        pytest.param("foreign", "full", id="previous-server-run"),
    ],
)
def test_plan_sync(agent: str, plan: str) -> None:
    view = synced_view(task(1))
    acked = view.generation
    view.record("t2", task(2))
    view.delta(lookup, now=0.0)  # sent, not acknowledged
    generations = {
        "zero": 0,
        "current": view.generation,
        "acked": acked,
        "older": acked - 1,
        "foreign": 7,
    }
    assert view.plan_sync(generations[agent]) == plan


def test_plan_sync_on_a_fresh_view_is_full() -> None:
    assert new_view().plan_sync(123) == "full"


def test_resend_repeats_everything_since_the_ack_with_definitions() -> None:
    view = synced_view(task(1))
    acked = view.generation
    view.record("t2", task(2, definition=DEF_B))
    view.delta(lookup, now=1.0)  # lost
    view.record("t3", task(3))
    view.delta(lookup, now=2.0)
    assert view.overdue(now=31.0, timeout_s=30.0)
    message = view.resend(lookup, now=31.0)
    assert message is not None
    assert message["base"] == acked
    assert sorted(t["taskArn"] for t in message["tasks"]) == ["t2", "t3"]
    assert sorted(message["taskDefinitions"]) == [DEF_A, DEF_B]
    view.ack(message["generation"], now=32.0)
    assert not view.overdue(now=1000.0, timeout_s=30.0) and view.inflight == {}


def test_an_unacknowledged_full_set_is_resent_whole() -> None:
    view = new_view()
    view.full([task(1)], lookup, now=0.0)
    assert view.resend(lookup, now=40.0) is None  # the caller sends a full set again


def test_acks_of_other_generations_are_ignored() -> None:
    view = synced_view(task(1))
    acked = view.acked
    view.ack(view.generation + 5, now=0.0)
    view.ack(acked - 1, now=0.0)
    assert view.acked == acked


# -- agent --------------------------------------------------------------------------------
def full(generation: int, *tasks: WireTask) -> DesiredMessage:
    return {
        "type": "desired",
        "full": True,
        "generation": generation,
        "tasks": list(tasks),
        "taskDefinitions": {t["taskDefinitionArn"]: lookup(t["taskDefinitionArn"]) for t in tasks},
    }


def delta(generation: int, base: int, *tasks: WireTask, removed: tuple[str, ...] = ()) -> Any:
    return {
        "type": "desired",
        "generation": generation,
        "base": base,
        "tasks": list(tasks),
        "removed": list(removed),
        "taskDefinitions": {},
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(delta(11, 10, task(2)), "apply", id="next"),
        pytest.param(delta(12, 9, task(2)), "apply", id="resend-from-older-base"),
        pytest.param(delta(12, 11, task(2)), Resync(10), id="gap"),
        pytest.param(delta(10, 9, task(2)), None, id="stale"),
        pytest.param(delta(11, 10, task(2, definition=DEF_B)), Resync(0), id="missing-def"),
        pytest.param(full(5, task(3)), "apply", id="full-always-applies"),
    ],
)
def test_agent_receive(message: DesiredMessage, expected: object) -> None:
    agent = AgentView()
    assert isinstance(agent.receive(full(10, task(1))), Applied)
    decision = agent.receive(message)
    if expected == "apply":
        assert isinstance(decision, Applied)
        assert agent.generation == message["generation"]
        assert decision.tasks[0]["taskDefinition"] == lookup(DEF_A)
    else:
        assert decision == expected
        assert agent.generation == 10


def test_agent_asks_once_until_repaired() -> None:
    agent = AgentView()
    agent.receive(full(10, task(1)))
    assert agent.receive(delta(12, 11, task(2))) == Resync(10)
    assert agent.receive(delta(13, 12, task(3))) is None  # already asked
    assert isinstance(agent.receive(delta(14, 10, task(2), task(3))), Applied)
    assert agent.receive(delta(16, 15, task(4))) == Resync(14)


def test_a_full_set_prunes_unused_definitions() -> None:
    agent = AgentView()
    agent.receive(full(10, task(1), task(2, definition=DEF_B)))
    agent.receive(full(11, task(1)))
    assert list(agent.definitions) == [DEF_A]


# -- both ends: healing ------------------------------------------------------------------------
class Link:
    """A server view and an agent, with a channel that can lose messages or reset."""

    def __init__(self) -> None:
        self.counter = itertools.count(1000)
        self.view = InstanceView(lambda: next(self.counter))
        self.agent = AgentView()
        self.holds: dict[str, str] = {}  # what the agent runs: arn -> desiredStatus
        self.truth: dict[str, WireTask] = {}  # the store
        self.acks: list[int] = []  # acknowledgements on their way to the server
        self.now = 0.0

    def deliver(self, message: DesiredMessage | None, lost: bool) -> None:
        if message is None or lost:
            return
        decision = self.agent.receive(message)
        if isinstance(decision, Resync):
            self.sync(decision.generation)
        elif isinstance(decision, Applied):
            if decision.full:
                self.holds = {}
            for entry in decision.tasks:
                self.holds[entry["taskArn"]] = entry["desiredStatus"]
            for arn in decision.removed:
                self.holds.pop(arn, None)
            self.acks.append(self.agent.generation)

    def receive_acks(self, count: int, lost: bool = False) -> None:
        for generation in self.acks[:count]:
            if not lost:
                self.view.ack(generation, self.now)
        del self.acks[:count]

    def sync(self, generation: int) -> None:
        """Connect or resync (what AgentHub does with DesiredSets.message_for)."""
        self.receive_acks(len(self.acks))  # they precede the request on the same stream
        plan = self.view.plan_sync(generation)
        if plan == "full":
            self.deliver(self.view.full(list(self.truth.values()), lookup, self.now), False)
            return
        self.view.reconcile(self.truth.values())
        message = self.view.resend(lookup, self.now) if plan == "resend" else None
        self.deliver(message or self.view.delta(lookup, self.now), False)

    def expected(self) -> dict[str, str]:
        return {arn: t["desiredStatus"] for arn, t in self.truth.items()}


operation = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 9), st.sampled_from(["RUNNING", "STOPPED"])),
    st.tuples(st.just("drop"), st.integers(0, 9), st.just("")),
    st.tuples(st.just("send"), st.booleans(), st.just("")),
    st.tuples(st.just("reconnect"), st.just(0), st.just("")),
    st.tuples(st.just("agent-restart"), st.just(0), st.just("")),
    st.tuples(st.just("timeout"), st.just(0), st.just("")),
    st.tuples(st.just("acks"), st.integers(0, 3), st.sampled_from(["", "lost"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_any_loss_or_reconnect_converges(ops: list[tuple[str, Any, str]]) -> None:
    link = Link()
    link.sync(0)
    for kind, arg, status in ops:
        link.now += 1.0
        if kind == "put":
            link.truth[f"t{arg}"] = task(arg, status, DEF_A if arg % 2 else DEF_B)
            link.view.record(f"t{arg}", link.truth[f"t{arg}"])
        elif kind == "drop" and f"t{arg}" in link.truth:
            del link.truth[f"t{arg}"]
            link.view.record(f"t{arg}", None)
        elif kind == "send":
            link.deliver(link.view.delta(lookup, link.now), lost=bool(arg))
        elif kind == "acks":
            link.receive_acks(arg, lost=status == "lost")
        elif kind == "reconnect":
            link.acks = []  # a connection ends with what was in flight
            link.agent.resync_asked = False
            link.sync(link.agent.generation)
        elif kind == "agent-restart":
            link.agent, link.holds, link.acks = AgentView(), {}, []
            link.sync(0)
        elif kind == "timeout" and link.view.overdue(link.now, 0.5):
            message = link.view.resend(lookup, link.now)
            if message is None:
                message = link.view.full(list(link.truth.values()), lookup, link.now)
            link.deliver(message, lost=False)
    # heal: send what is unsent, then the ack timeout's resend, then a final send
    link.deliver(link.view.delta(lookup, link.now), lost=False)
    link.receive_acks(len(link.acks))
    link.now += 100.0
    if link.view.overdue(link.now, 0.5):
        message = link.view.resend(lookup, link.now)
        link.deliver(message or link.view.full(list(link.truth.values()), lookup, 0.0), False)
    link.deliver(link.view.delta(lookup, link.now), lost=False)
    link.receive_acks(len(link.acks))
    assert link.holds == link.expected()
    assert not link.view.overdue(link.now + 100.0, 0.5)
