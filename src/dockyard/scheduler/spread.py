"""Spread indexes: per-value task counts and count buckets for one task shape.

Role: answers "which attribute value has the fewest tasks of this group, and
which of its instances has the fewest" without scanning tasks or instances.
Owned and kept current by `ClusterState`; read by `rank`.

Two parts, so that a cluster of thousands of instances can keep an index for each of
hundreds of services (bench/README.md, issue 9: 900 services at 5,000 instances
rebuilt O(instances) indexes for ~20 % of the server when each held every instance):

* `Members` (attribute, cpu, memory), shared by every group: the schedulable instances
  that can still hold a task of (cpu, memory), bucketed by attribute value; a full
  instance leaves, so walking never meets it. O(instances), one per shape.
* `SpreadIndex` (group, attribute, cpu, memory), one per group: O(the group's tasks),
  - `totals[value]`  tasks of `group` on ALL instances with that value (a full or
    draining instance still counts: its tasks are there);
  - `levels[value][n]` the members with that value running exactly n >= 1 tasks of
    `group`; those running none (level 0) are not listed: `zero(value)` is the
    members without the group, sampled by rejection and counted exactly.

`attribute=None` spreads over instances: a single value, None. An instance
without the attribute falls in the None value, like an AZ of its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from .node import Bucket, Node


def _value(node: Node, attribute: str | None) -> str | None:
    return None if attribute is None else node.attributes.get(attribute)


class Members:
    """Schedulable instances that fit (cpu, memory), by `attribute` value."""

    __slots__ = ("_value_of", "attribute", "buckets", "cpu", "memory")

    def __init__(self, attribute: str | None, cpu: int, memory: int, nodes: Iterable[Node]):
        self.attribute = attribute
        self.cpu = cpu
        self.memory = memory
        self._value_of: dict[int, str | None] = {}  # member idx -> the value it is under
        found: dict[str | None, list[Node]] = {}
        for node in nodes:
            if self.fits(node) and node.idx not in self._value_of:
                value = _value(node, attribute)
                self._value_of[node.idx] = value
                found.setdefault(value, []).append(node)
        self.buckets: dict[str | None, Bucket] = {v: Bucket.of(ns) for v, ns in found.items()}

    def fits(self, node: Node) -> bool:
        return node.schedulable and node.cpu >= self.cpu and node.memory >= self.memory

    def __contains__(self, node: Node) -> bool:
        return node.idx in self._value_of

    def sync(self, node: Node) -> None:
        """After the node changed (or was added): a member exactly when it fits."""
        if self.fits(node):
            self.add(node)
        else:
            self.remove(node)

    def add(self, node: Node) -> None:
        if node.idx in self._value_of or not self.fits(node):
            return
        value = _value(node, self.attribute)
        self._value_of[node.idx] = value
        self.buckets.setdefault(value, Bucket()).add(node)

    def remove(self, node: Node) -> None:
        if node.idx not in self._value_of:
            return
        value = self._value_of.pop(node.idx)
        bucket = self.buckets[value]
        bucket.remove(node)
        if not bucket:
            del self.buckets[value]


class ZeroPool:
    """The members of one value without a task of the group (level 0), as a pool `rank`
    samples by rejection from the value's members: never materialized."""

    __slots__ = ("bucket", "group", "size")

    def __init__(self, bucket: Bucket, group: str, size: int) -> None:
        self.bucket, self.group, self.size = bucket, group, size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Node]:
        group = self.group
        return (n for n in self.bucket if not n.task_groups.get(group))

    def draw(self, rng: random.Random) -> Node | None:
        """A uniformly random member; None when it has tasks of the group (a miss)."""
        node = self.bucket.pick(rng)
        return None if node.task_groups.get(self.group) else node


class SpreadIndex:
    __slots__ = (
        "_level_of", "_members", "_nonzero", "attribute", "cpu", "group", "levels", "memory",
        "totals",
    )  # fmt: skip

    def __init__(
        self,
        group: str,
        attribute: str | None,
        cpu: int,
        memory: int,
        nodes: Iterable[Node],
        *,
        members: Members | None = None,
    ) -> None:
        """Built from every node (O(instances) once, O(the group's tasks) kept); `members`
        shared by the caller, or made here from `nodes`."""
        nodes = list(nodes)
        self.group = group
        self.attribute = attribute
        self.cpu = cpu
        self.memory = memory
        self._members = members if members is not None else Members(attribute, cpu, memory, nodes)
        self.totals: dict[str | None, int] = {}
        self.levels: dict[str | None, dict[int, Bucket]] = {}  # counts >= 1 only
        # member idx with a count >= 1 -> (the count, the value it is listed under)
        self._level_of: dict[int, tuple[int, str | None]] = {}
        self._nonzero: dict[str | None, int] = {}  # value -> members listed in `levels`
        for node in nodes:
            if node.task_groups.get(group):
                self.add(node)

    @property
    def members(self) -> dict[str | None, Bucket]:
        return self._members.buckets

    def value_of(self, node: Node) -> str | None:
        return _value(node, self.attribute)

    def total_of(self, node: Node) -> int:
        return self.totals.get(self.value_of(node), 0)

    def zero(self, value: str | None) -> ZeroPool:
        """The members with `value` running no task of the group."""
        return ZeroPool(self.members.get(value) or Bucket(), self.group, self._zero_size(value))

    def counts(self, value: str | None) -> list[int]:
        """The task counts some member with `value` has (0 included)."""
        listed = list(self.levels.get(value, ()))
        return [0, *listed] if self._zero_size(value) else listed

    def has(self, value: str | None, count: int) -> bool:
        if count == 0:
            return self._zero_size(value) > 0
        return count in self.levels.get(value, ())

    def _zero_size(self, value: str | None) -> int:
        bucket = self.members.get(value)
        return 0 if bucket is None else len(bucket) - self._nonzero.get(value, 0)

    def pool(self, value: str | None, count: int) -> Bucket | ZeroPool:
        return self.zero(value) if count == 0 else self.levels[value][count]

    def add(self, node: Node) -> None:
        """The node joined the state (or re-joined after a change): count it in."""
        count = node.task_groups.get(self.group, 0)
        if count:
            value = self.value_of(node)
            self.totals[value] = self.totals.get(value, 0) + count
        self._sync(node)

    def remove(self, node: Node) -> None:
        """The node leaves (or is about to change): count it out, as it stands."""
        count = node.task_groups.get(self.group, 0)
        if count:
            value = self.value_of(node)
            left = self.totals[value] - count
            if left:
                self.totals[value] = left
            else:
                del self.totals[value]
        self._unlist(node)

    def refresh(self, node: Node, group: str, delta: int) -> None:
        """After `node` gained (delta=+1) or lost (-1) a task of `group`, or changed
        whether it fits (the shared members already follow)."""
        if group == self.group:
            value = self.value_of(node)
            total = self.totals.get(value, 0) + delta
            if total:
                self.totals[value] = total
            else:
                self.totals.pop(value, None)
        self._sync(node)

    def _sync(self, node: Node) -> None:
        count = node.task_groups.get(self.group, 0)
        want = (count, self.value_of(node)) if count and node in self._members else None
        have = self._level_of.get(node.idx)
        if want == have:
            return
        if have is not None:
            self._unlist(node)
        if want is not None:
            count, value = want
            self.levels.setdefault(value, {}).setdefault(count, Bucket()).add(node)
            self._level_of[node.idx] = want
            self._nonzero[value] = self._nonzero.get(value, 0) + 1

    def _unlist(self, node: Node) -> None:
        listed = self._level_of.pop(node.idx, None)
        if listed is None:
            return
        have, value = listed
        levels = self.levels[value]
        levels[have].remove(node)
        if not levels[have]:
            del levels[have]
            if not levels:
                del self.levels[value]
        left = self._nonzero[value] - 1
        if left:
            self._nonzero[value] = left
        else:
            del self._nonzero[value]
