"""`SpreadIndex`: per-value task counts and count buckets for one task shape.

Role: answers "which attribute value has the fewest tasks of this group, and
which of its instances has the fewest" without scanning tasks or instances.
Owned and kept current by `ClusterState`; read by `rank`.

For (group, attribute, cpu, memory) it keeps:

* `totals[value]`  - tasks of `group` on ALL instances with that value (a full or
  draining instance still counts: its tasks are there);
* `members[value]` - schedulable instances with that value that can still hold a
  task of (cpu, memory);  a full instance leaves, so walking never meets it;
* `levels[value][n]` - those members running exactly n tasks of `group`.

`attribute=None` spreads over instances: a single value, None. An instance
without the attribute falls in the None value, like an AZ of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from .node import Bucket, Node


class SpreadIndex:
    __slots__ = ("_level_of", "attribute", "cpu", "group", "levels", "members", "memory", "totals")

    def __init__(
        self, group: str, attribute: str | None, cpu: int, memory: int, nodes: Iterable[Node]
    ) -> None:
        self.group = group
        self.attribute = attribute
        self.cpu = cpu
        self.memory = memory
        self.totals: dict[str | None, int] = {}
        self.members: dict[str | None, Bucket] = {}
        self.levels: dict[str | None, dict[int, Bucket]] = {}
        self._level_of: dict[int, int] = {}  # member idx -> its level
        self._build(nodes)

    def _build(self, nodes: Iterable[Node]) -> None:
        """What `add` of each node in turn gives (the same buckets, in the same order),
        in one pass with plain lists: an index is built whenever a service's placement
        needs one that is not kept (`ClusterState.spread_index`), O(instances) each."""
        group, attribute, cpu, memory = self.group, self.attribute, self.cpu, self.memory
        totals, level_of = self.totals, self._level_of
        members: dict[str | None, list[Node]] = {}
        levels: dict[str | None, dict[int, list[Node]]] = {}
        for node in nodes:
            count = node.task_groups.get(group, 0)
            value = None if attribute is None else node.attributes.get(attribute)
            if count:
                totals[value] = totals.get(value, 0) + count
            if node.schedulable and node.cpu >= cpu and node.memory >= memory:
                if node.idx in level_of:
                    continue
                level_of[node.idx] = count
                members.setdefault(value, []).append(node)
                levels.setdefault(value, {}).setdefault(count, []).append(node)
        self.members = {value: Bucket.of(found) for value, found in members.items()}
        self.levels = {
            value: {count: Bucket.of(found) for count, found in by_count.items()}
            for value, by_count in levels.items()
        }

    def value_of(self, node: Node) -> str | None:
        return None if self.attribute is None else node.attributes.get(self.attribute)

    def total_of(self, node: Node) -> int:
        return self.totals.get(self.value_of(node), 0)

    def add(self, node: Node) -> None:
        count = node.task_groups.get(self.group, 0)
        if count:
            value = self.value_of(node)
            self.totals[value] = self.totals.get(value, 0) + count
        self._sync(node, fits=self._fits(node))

    def remove(self, node: Node) -> None:
        count = node.task_groups.get(self.group, 0)
        if count:
            self.totals[self.value_of(node)] -= count
        self._sync(node, fits=False)

    def refresh(self, node: Node, group: str, delta: int) -> None:
        """After `node` gained (delta=+1) or lost (-1) a task of `group`."""
        if group == self.group:
            value = self.value_of(node)
            self.totals[value] = self.totals.get(value, 0) + delta
        self._sync(node, fits=self._fits(node))

    def _fits(self, node: Node) -> bool:
        return node.schedulable and node.cpu >= self.cpu and node.memory >= self.memory

    def _sync(self, node: Node, *, fits: bool) -> None:
        want = node.task_groups.get(self.group, 0) if fits else None
        have = self._level_of.get(node.idx)
        if want == have:
            return
        value = self.value_of(node)
        if have is not None:
            levels = self.levels[value]
            levels[have].remove(node)
            if not levels[have]:
                del levels[have]
            if want is None:
                del self._level_of[node.idx]
                self.members[value].remove(node)
                if not self.members[value]:
                    del self.members[value], self.levels[value]
        if want is not None:
            if have is None:
                self.members.setdefault(value, Bucket()).add(node)
            self.levels.setdefault(value, {}).setdefault(want, Bucket()).add(node)
            self._level_of[node.idx] = want
