"""Incremental resource accounting on an instance's live node (and its capacity row)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dockyard.resources import integer_resource, ports_resource
from dockyard.scheduler import ClusterState
from dockyard.scheduler.model import TaskRequest
from dockyard.tasks import capacity
from dockyard.tasks.accounting import bind_dynamic, count_transition, release, reservation_for
from dockyard.tasks.views import instance_view

ARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/1"


def instance() -> dict[str, Any]:
    registered = [
        integer_resource("CPU", 2048),
        integer_resource("MEMORY", 4096),
        ports_resource("PORTS", [22, 2375]),
        ports_resource("PORTS_UDP", []),
    ]
    return {
        "containerInstanceArn": ARN,
        "ec2InstanceId": "i-1",
        "status": "ACTIVE",
        "agentConnected": True,
        "registeredResources": registered,
    }


def state() -> ClusterState:
    return ClusterState([instance_view(instance())])


def request(
    cpu: int = 256, memory: int = 512, tcp: frozenset[int] = frozenset(), dynamic: int = 1
) -> TaskRequest:
    return TaskRequest("td", cpu, memory, "family:web", ports_tcp=tcp, dynamic_ports_tcp=dynamic)


def remaining(cluster: ClusterState) -> list[dict[str, Any]]:
    composed = capacity.compose(instance(), capacity.of_node(cluster.node(ARN)))
    return list(composed["remainingResources"])


def test_reserve_bind_release_round_trip() -> None:
    cluster = state()
    original = copy.deepcopy(instance()["registeredResources"])
    assert remaining(cluster) == original
    req = request(tcp=frozenset({8080}))
    cluster.commit(ARN, req)
    reservation = reservation_for(req)
    view = cluster.view(ARN)
    assert (view.remaining_cpu, view.remaining_memory) == (2048 - 256, 4096 - 512)
    assert view.used_ports_tcp == {8080} and view.pending_dynamic_tcp == 1
    assert view.task_groups == {"family:web": 1} and view.pending_tasks_count == 1
    with cluster.changing(ARN) as node:
        assert bind_dynamic(
            node,
            reservation,
            [{"hostPort": 50001, "protocol": "tcp"}, {"hostPort": 8080, "protocol": "tcp"}],
        )
        assert not bind_dynamic(node, reservation, [{"hostPort": 50001, "protocol": "tcp"}])
    view = cluster.view(ARN)
    assert view.used_ports_tcp == {8080, 50001} and view.pending_dynamic_tcp == 0
    with cluster.changing(ARN) as node:
        count_transition(node, "PROVISIONING", "STOPPED")
        release(node, reservation)
    assert remaining(cluster) == original
    assert cluster.view(ARN) == instance_view(instance())


def test_count_transitions() -> None:
    node = state().node(ARN)
    steps = [(None, "PROVISIONING", (1, 0)), ("PROVISIONING", "PENDING", (1, 0)),
             ("PENDING", "RUNNING", (0, 1)), ("RUNNING", "STOPPED", (0, 0))]  # fmt: skip
    for before, after, counts in steps:
        count_transition(node, before, after)
        assert (node.pending_tasks_count, node.running_tasks_count) == counts


def test_compose_shows_the_aws_fields_and_hides_bookkeeping() -> None:
    doc = {**instance(), "taskGroups": {"x": 1}, "disconnectedAt": 1.0, "runningTasksCount": 9}
    record = capacity.Capacity(
        remaining_cpu=1000, remaining_memory=2000, used_tcp=frozenset({80}), running=2, pending=1
    )
    out = capacity.compose(doc, record)
    assert out["runningTasksCount"] == 2 and out["pendingTasksCount"] == 1
    assert "taskGroups" not in out and "disconnectedAt" not in out
    assert [r.get("integerValue") for r in out["remainingResources"][:2]] == [1000, 2000]
    assert out["remainingResources"][2]["stringSetValue"] == ["22", "80", "2375"]
    # a pre-0006 document read without a row: its own fields
    assert capacity.from_document(capacity.compose(doc, record)).used_tcp == {80}


@given(
    st.lists(st.tuples(st.integers(0, 512), st.integers(1, 512), st.booleans()), max_size=12),
    st.randoms(),
)
def test_any_reserve_release_order_returns_to_start(
    tasks: list[tuple[int, int, bool]], rnd: Any
) -> None:
    cluster = state()
    original = cluster.view(ARN)
    reservations = []
    for index, (cpu, memory, bind) in enumerate(tasks):
        req = request(cpu, memory, tcp=frozenset({10000 + index}))
        cluster.commit(ARN, req)
        reservation = reservation_for(req)
        if bind:
            with cluster.changing(ARN) as node:
                bind_dynamic(node, reservation, [{"hostPort": 50000 + index, "protocol": "tcp"}])
        reservations.append(reservation)
    view = cluster.view(ARN)
    assert view.remaining_cpu == 2048 - sum(t[0] for t in tasks)
    assert view.remaining_memory == 4096 - sum(t[1] for t in tasks)
    rnd.shuffle(reservations)
    for reservation in reservations:
        with cluster.changing(ARN) as node:
            count_transition(node, "PENDING", "STOPPED")
            release(node, reservation)
    assert cluster.view(ARN) == original
