"""`Node`: one instance's live bookkeeping, and `Bucket`: an O(1) sampling set.

Role: the mutable twin of an `InstanceView` inside `ClusterState`. It has the
fields a cluster query reads (so `Query.matches(node)` works on live counts)
plus remaining cpu/memory, blocked ports (reserved + used) and the dynamic host
ports promised but not yet bound. Only `ClusterState` writes to it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Protocol

from .model import InstanceView


class NodePool(Protocol):
    """Anything `rank` can sample from by position: a list, a Bucket, a span."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int, /) -> Node: ...
    def __iter__(self) -> Iterator[Node]: ...


class Node:
    """Live state of one container instance; `idx` is unique within a state."""

    __slots__ = (
        "_attribute_items", "agent_connected", "agent_version", "arn", "attributes",
        "blocked_tcp", "blocked_udp",
        "cpu", "idx", "instance_id", "memory", "pending_tasks_count", "pending_tcp", "pending_udp",
        "registered_at",
        "registered_cpu", "registered_memory", "reserved_tcp", "reserved_udp",
        "running_tasks_count", "schedulable", "status", "task_groups",
    )  # fmt: skip

    def __init__(self, idx: int, view: InstanceView) -> None:
        self.idx = idx
        self.arn = view.arn
        self.instance_id = view.instance_id
        self.status = view.status
        self.agent_connected = view.agent_connected
        self.schedulable = view.status == "ACTIVE" and view.agent_connected
        self.attributes = dict(view.attributes)
        self._attribute_items: tuple[tuple[str, str], ...] | None = None
        self.registered_at = view.registered_at
        self.agent_version = view.agent_version
        self.running_tasks_count = view.running_tasks_count
        self.pending_tasks_count = view.pending_tasks_count
        self.task_groups: dict[str, int] = {g: n for g, n in view.task_groups.items() if n > 0}
        self.registered_cpu = view.registered_cpu
        self.registered_memory = view.registered_memory
        self.cpu = view.remaining_cpu
        self.memory = view.remaining_memory
        self.reserved_tcp = view.reserved_ports_tcp
        self.reserved_udp = view.reserved_ports_udp
        self.blocked_tcp: set[int] = set(view.reserved_ports_tcp | view.used_ports_tcp)
        self.blocked_udp: set[int] = set(view.reserved_ports_udp | view.used_ports_udp)
        self.pending_tcp = view.pending_dynamic_tcp
        self.pending_udp = view.pending_dynamic_udp

    def attribute_items(self) -> tuple[tuple[str, str], ...]:
        """The attributes as sorted (name, value text) pairs (a step's InstanceView),
        made once: whoever replaces `attributes` calls `attributes_changed`."""
        if self._attribute_items is None:
            self._attribute_items = tuple(sorted((k, str(v)) for k, v in self.attributes.items()))
        return self._attribute_items

    def attributes_changed(self) -> None:
        self._attribute_items = None

    def view(self) -> InstanceView:
        return InstanceView(
            arn=self.arn,
            instance_id=self.instance_id,
            registered_cpu=self.registered_cpu,
            registered_memory=self.registered_memory,
            remaining_cpu=self.cpu,
            remaining_memory=self.memory,
            status=self.status,
            agent_connected=self.agent_connected,
            attributes=dict(self.attributes),
            registered_at=self.registered_at,
            agent_version=self.agent_version,
            running_tasks_count=self.running_tasks_count,
            pending_tasks_count=self.pending_tasks_count,
            task_groups=dict(self.task_groups),
            reserved_ports_tcp=self.reserved_tcp,
            reserved_ports_udp=self.reserved_udp,
            used_ports_tcp=frozenset(self.blocked_tcp - self.reserved_tcp),
            used_ports_udp=frozenset(self.blocked_udp - self.reserved_udp),
            pending_dynamic_tcp=self.pending_tcp,
            pending_dynamic_udp=self.pending_udp,
        )

    def __repr__(self) -> str:
        return f"Node({self.arn!r}, cpu={self.cpu}, memory={self.memory})"


class Bucket:
    """A set of nodes with O(1) add, remove and uniform random pick."""

    __slots__ = ("_items", "_pos")

    def __init__(self) -> None:
        self._items: list[Node] = []
        self._pos: dict[int, int] = {}

    @classmethod
    def of(cls, nodes: list[Node]) -> Bucket:
        """A bucket holding `nodes` (distinct), in that order: what adding each would give."""
        bucket = cls()
        bucket._items = nodes
        bucket._pos = {node.idx: i for i, node in enumerate(nodes)}
        return bucket

    def add(self, node: Node) -> None:
        if node.idx not in self._pos:
            self._pos[node.idx] = len(self._items)
            self._items.append(node)

    def remove(self, node: Node) -> None:
        i = self._pos.pop(node.idx)
        last = self._items.pop()
        if last is not node:
            self._items[i] = last
            self._pos[last.idx] = i

    def pick(self, rng: random.Random) -> Node:
        return self._items[rng.randrange(len(self._items))]

    def __getitem__(self, i: int) -> Node:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._items)
