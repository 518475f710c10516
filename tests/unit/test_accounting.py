"""Incremental resource accounting on instance documents."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dockyard.resources import integer_resource, ports_resource
from dockyard.scheduler.model import TaskRequest
from dockyard.tasks.accounting import (
    bind_dynamic,
    count_transition,
    release,
    reservation_for,
    reserve,
)
from dockyard.tasks.views import instance_view


def instance() -> dict[str, Any]:
    registered = [
        integer_resource("CPU", 2048),
        integer_resource("MEMORY", 4096),
        ports_resource("PORTS", [22, 2375]),
        ports_resource("PORTS_UDP", []),
    ]
    return {
        "containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/c/1",
        "ec2InstanceId": "i-1",
        "status": "ACTIVE",
        "agentConnected": True,
        "registeredResources": registered,
        "remainingResources": copy.deepcopy(registered),
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
    }


def request(cpu: int = 256, memory: int = 512, tcp: frozenset[int] = frozenset(), dynamic: int = 1) -> TaskRequest:
    return TaskRequest("td", cpu, memory, "family:web", ports_tcp=tcp, dynamic_ports_tcp=dynamic)


def test_reserve_bind_release_round_trip() -> None:
    doc = instance()
    original = copy.deepcopy(doc["remainingResources"])
    reservation = reservation_for(request(tcp=frozenset({8080})))
    reserve(doc, reservation)
    view = instance_view(doc)
    assert (view.remaining_cpu, view.remaining_memory) == (2048 - 256, 4096 - 512)
    assert view.used_ports_tcp == {8080} and view.pending_dynamic_tcp == 1
    assert view.task_groups == {"family:web": 1}
    bound = bind_dynamic(doc, reservation, [{"hostPort": 50001, "protocol": "tcp"}, {"hostPort": 8080, "protocol": "tcp"}])
    assert bound
    assert not bind_dynamic(doc, reservation, [{"hostPort": 50001, "protocol": "tcp"}])
    view = instance_view(doc)
    assert view.used_ports_tcp == {8080, 50001} and view.pending_dynamic_tcp == 0
    release(doc, reservation)
    assert doc["remainingResources"] == original
    assert instance_view(doc).task_groups == {}
    assert instance_view(doc).pending_dynamic_tcp == 0


def test_count_transitions() -> None:
    doc = instance()
    count_transition(doc, None, "PROVISIONING")
    assert (doc["pendingTasksCount"], doc["runningTasksCount"]) == (1, 0)
    count_transition(doc, "PROVISIONING", "PENDING")
    assert (doc["pendingTasksCount"], doc["runningTasksCount"]) == (1, 0)
    count_transition(doc, "PENDING", "RUNNING")
    assert (doc["pendingTasksCount"], doc["runningTasksCount"]) == (0, 1)
    count_transition(doc, "RUNNING", "STOPPED")
    assert (doc["pendingTasksCount"], doc["runningTasksCount"]) == (0, 0)


@given(st.lists(st.tuples(st.integers(0, 512), st.integers(1, 512), st.booleans()), max_size=12), st.randoms())
def test_any_reserve_release_order_returns_to_start(tasks: list[tuple[int, int, bool]], rnd: Any) -> None:
    doc = instance()
    original = copy.deepcopy(doc["remainingResources"])
    reservations = []
    for index, (cpu, memory, bind) in enumerate(tasks):
        reservation = reservation_for(request(cpu, memory, tcp=frozenset({10000 + index})))
        reserve(doc, reservation)
        if bind:
            bind_dynamic(doc, reservation, [{"hostPort": 50000 + index, "protocol": "tcp"}])
        reservations.append(reservation)
    view = instance_view(doc)
    assert view.remaining_cpu == 2048 - sum(t[0] for t in tasks)
    assert view.remaining_memory == 4096 - sum(t[1] for t in tasks)
    rnd.shuffle(reservations)
    for reservation in reservations:
        release(doc, reservation)
    assert doc["remainingResources"] == original
    assert instance_view(doc).pending_dynamic_tcp == 0
