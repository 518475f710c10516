"""awsvpc addresses as a placement resource: an instance's pool bounds its awsvpc tasks.

ECS refuses an awsvpc task on an instance whose ENI limit is reached
("RESOURCE:ENI"); on Dockyard the limit is the agent's address pool, registered as the
attribute dockyard.awsvpc-pool-size.
"""

from __future__ import annotations

import random
from typing import Any

from dockyard.scheduler import ClusterState, InstanceView, place, task_request_from_definition
from dockyard.scheduler.filters import ENI
from dockyard.scheduler.model import ENI_GROUP, ENI_POOL_ATTRIBUTE
from dockyard.tasks.accounting import release, reservation_for
from dockyard.tasks.awsvpc import NEEDS_ENI, TASK_ENI_ATTRIBUTE

PREFIX = "arn:aws:ecs:us-east-1:000000000000:container-instance/stage01/"


def _instance(name: str, pool: int | None) -> InstanceView:
    attributes: dict[str, str | None] = {}
    if pool is not None:
        attributes = {TASK_ENI_ATTRIBUTE: None, ENI_POOL_ATTRIBUTE: str(pool)}
    return InstanceView(
        arn=PREFIX + name,
        instance_id=f"i-{name}",
        registered_cpu=4096,
        registered_memory=8192,
        remaining_cpu=4096,
        remaining_memory=8192,
        attributes=attributes,
    )


def _definition(mode: str = "awsvpc") -> dict[str, Any]:
    return {
        "family": "web",
        "networkMode": mode,
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {"name": "web", "image": "x", "portMappings": [{"containerPort": 80}]}
        ],
    }


def _place(state: ClusterState, definition: dict[str, Any], count: int) -> Any:
    request = task_request_from_definition(definition)
    constraints = [NEEDS_ENI] if definition["networkMode"] == "awsvpc" else []
    return place(state, request, count, [{"type": "random"}], constraints, random.Random(7))


def test_awsvpc_request_needs_one_address_and_bridge_none() -> None:
    assert task_request_from_definition(_definition()).enis == 1
    assert task_request_from_definition(_definition("bridge")).enis == 0


def test_pool_bounds_the_awsvpc_tasks_of_an_instance() -> None:
    state = ClusterState([_instance("a", 2), _instance("b", 1)])
    result = _place(state, _definition(), 4)
    assert len(result.placements) == 3
    by_instance: dict[str, int] = {}
    for placement in result.placements:
        by_instance[placement.instance_arn] = by_instance.get(placement.instance_arn, 0) + 1
    assert by_instance == {PREFIX + "a": 2, PREFIX + "b": 1}
    assert {f.reason for f in result.failures} == {ENI}
    assert {f.arn for f in result.failures} == {PREFIX + "a", PREFIX + "b"}
    assert result.closest is not None
    assert result.closest.reason == ENI
    message = result.event_message("web")
    assert message is not None and "no free awsvpc address" in message
    assert state.node(PREFIX + "a").task_groups[ENI_GROUP] == 2


def test_a_full_pool_does_not_stop_bridge_tasks() -> None:
    state = ClusterState([_instance("a", 1)])
    assert len(_place(state, _definition(), 1).placements) == 1
    assert len(_place(state, _definition(), 1).placements) == 0
    assert len(_place(state, _definition("bridge"), 3).placements) == 3


def test_instance_without_a_pool_fails_the_capability_not_eni() -> None:
    state = ClusterState([_instance("a", None)])
    result = _place(state, _definition(), 1)
    assert not result.placements
    assert [f.reason for f in result.failures] == ["MemberOf placement constraint unsatisfied."]


def test_stopped_task_gives_its_address_back() -> None:
    state = ClusterState([_instance("a", 1)])
    placed = _place(state, _definition(), 1).placements
    assert len(placed) == 1
    reservation = reservation_for(placed[0].request)
    with state.changing(PREFIX + "a") as node:
        release(node, reservation)
    assert ENI_GROUP not in state.node(PREFIX + "a").task_groups
    assert len(_place(state, _definition(), 1).placements) == 1


def test_planned_placement_released_gives_the_address_back() -> None:
    state = ClusterState([_instance("a", 1)])
    placed = _place(state, _definition(), 1).placements
    state.release(placed[0])
    assert ENI_GROUP not in state.node(PREFIX + "a").task_groups


def test_reservation_without_enis_field_releases_nothing_of_the_pool() -> None:
    """Tasks placed before the pool was counted carry no `enis` in their reservation."""
    state = ClusterState([_instance("a", 2)])
    placed = _place(state, _definition(), 1).placements
    old = {k: v for k, v in reservation_for(placed[0].request).items() if k != "enis"}
    with state.changing(PREFIX + "a") as node:
        release(node, old)
    assert state.node(PREFIX + "a").task_groups[ENI_GROUP] == 1
