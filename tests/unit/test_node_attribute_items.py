"""`Node.attribute_items` (what a service step's InstanceView carries) is made once per
node and follows attribute changes made through `ClusterState.changing`."""

from __future__ import annotations

from dockyard.scheduler import ClusterState, InstanceView


def test_attribute_items_follow_changes() -> None:
    view = InstanceView(
        arn="arn:i/1",
        instance_id="i-1",
        registered_cpu=1024,
        registered_memory=1024,
        remaining_cpu=1024,
        remaining_memory=1024,
        attributes={"zone": "a", "ecs.os-type": "linux"},
    )
    state = ClusterState([view])
    node = state.node("arn:i/1")
    first = node.attribute_items()
    assert first == (("ecs.os-type", "linux"), ("zone", "a"))
    assert node.attribute_items() is first  # made once
    with state.changing("arn:i/1") as held:
        held.attributes["zone"] = "b"
    assert node.attribute_items() == (("ecs.os-type", "linux"), ("zone", "b"))
