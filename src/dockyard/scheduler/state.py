"""`ClusterState`: the instances of one cluster with incremental bookkeeping.

Role: the scheduler's only mutable structure. Built from `InstanceView`s (which
the store computes once per planning round), it keeps, per instance, the
remaining cpu/memory, blocked ports and task-group counts, and updates them in
O(log n) + O(the task group's indexes + task shapes) per `commit`/`release` instead
of re-scanning tasks.
Neighbours: `filters` and `rank` read it; `placement.place` commits to it.

Indexes (what makes a placement cheap at thousands of instances):

* `sorted_by("memory"|"cpu")` - schedulable nodes sorted by remaining amount,
  as `(remaining, idx, node)`, built on first binpack and then maintained:
  binpack walks it from the first that has enough;
* `spread_index(group, attribute, cpu, memory)` - built lazily, kept up to date:
  the nodes that fit that task shape, bucketed by attribute value and by their
  count of `group` tasks, plus the group's task total per value (see `spread`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .model import ENI_GROUP, InstanceView, Placement, TaskRequest
from .node import Node
from .query import Query
from .spread import Members, SpreadIndex

Entry = tuple[int, int, Node]
IndexKey = tuple[str, str | None, int, int]  # (group, attribute, cpu, memory)
MembersKey = tuple[str | None, int, int]  # (attribute, cpu, memory)
# Spread indexes kept (LRU): each is O(its group's tasks), so every service of a large
# cluster keeps its own (900 services at 5,000 instances thrashed the 256 kept when each
# was O(instances): bench/README.md). Their shared members: O(instances) each, one per
# (attribute, task shape).
_MAX_INDEXES = 4096
_MAX_MEMBERS = 64


class ClusterState:
    """Instances keyed by ARN; `commit`/`release` tasks; cheap lookups for `rank`."""

    def __init__(self, instances: Iterable[InstanceView] = ()) -> None:
        self._nodes: dict[str, Node] = {}
        self._next_idx = 0
        self._sorted: dict[str, list[Entry]] = {}  # "cpu"/"memory" -> entries
        self._schedulable = 0
        self._indexes: dict[IndexKey, SpreadIndex] = {}
        # the same indexes by task group: a commit refreshes only those it can move
        # (`_refresh`); and the members they share, by (attribute, task shape)
        self._by_group: dict[str, dict[IndexKey, SpreadIndex]] = {}
        self._members: dict[MembersKey, Members] = {}
        self._matches: dict[str, tuple[frozenset[int], list[Node]]] = {}
        for view in instances:
            self.add(view)

    # -- instances ------------------------------------------------------------
    def add(self, view: InstanceView) -> None:
        """Add an instance, replacing any with the same ARN (status/attribute change)."""
        if view.arn in self._nodes:
            self.remove(view.arn)
        node = Node(self._next_idx, view)
        self._next_idx += 1
        self._nodes[view.arn] = node
        if node.schedulable:
            self._schedulable += 1
            for field, entries in self._sorted.items():
                insort(entries, (_amount(node, field), node.idx, node))
        self._index_add(node)
        self._matches.clear()

    def remove(self, arn: str) -> None:
        node = self._nodes.pop(arn)
        if node.schedulable:
            self._schedulable -= 1
            for field, entries in self._sorted.items():
                _discard(entries, _amount(node, field), node)
        self._index_remove(node)
        self._matches.clear()

    def _index_add(self, node: Node) -> None:
        """Count a node in: the shared members first (the indexes read them)."""
        for members in self._members.values():
            members.add(node)
        for group in list(node.task_groups):
            for index in self._by_group.get(group, {}).values():
                index.add(node)

    def _index_remove(self, node: Node) -> None:
        """Count a node out, as it stands (only the indexes of its groups list it)."""
        for group in list(node.task_groups):
            for index in self._by_group.get(group, {}).values():
                index.remove(node)
        for members in self._members.values():
            members.remove(node)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, arn: object) -> bool:
        return arn in self._nodes

    def nodes(self) -> Iterator[Node]:
        """Live nodes in insertion order (read-only use: `filters`, `rank`)."""
        return iter(self._nodes.values())

    def node(self, arn: str) -> Node:
        return self._nodes[arn]

    def view(self, arn: str) -> InstanceView:
        """The instance as it stands now, with every commit/release applied."""
        return self._nodes[arn].view()

    def views(self) -> list[InstanceView]:
        return [node.view() for node in self._nodes.values()]

    @property
    def schedulable_count(self) -> int:
        return self._schedulable

    def sorted_by(self, field: str) -> list[Entry]:
        """Schedulable nodes as (remaining `field`, idx, node), ascending."""
        entries = self._sorted.get(field)
        if entries is None:
            entries = sorted(
                (_amount(n, field), n.idx, n) for n in self._nodes.values() if n.schedulable
            )
            self._sorted[field] = entries
        return entries

    # -- bookkeeping ------------------------------------------------------------
    def commit(self, instance_arn: str, request: TaskRequest) -> Placement:
        """Reserve `request` on the instance (no feasibility check: `place` did it)."""
        node = self._nodes[instance_arn]
        self._apply(node, request, +1)
        return Placement(instance_arn=node.arn, instance_id=node.instance_id, request=request)

    def release(self, placement: Placement) -> None:
        """Give back what `placement` reserved (a planned or a stopped task)."""
        self._apply(self._nodes[placement.instance_arn], placement.request, -1)

    def _apply(self, node: Node, request: TaskRequest, sign: int) -> None:
        old_cpu, old_memory = node.cpu, node.memory
        node.cpu -= sign * request.cpu
        node.memory -= sign * request.memory
        node.pending_tcp = max(0, node.pending_tcp + sign * request.dynamic_ports_tcp)
        node.pending_udp = max(0, node.pending_udp + sign * request.dynamic_ports_udp)
        if sign > 0:
            node.blocked_tcp.update(request.ports_tcp)
            node.blocked_udp.update(request.ports_udp)
        else:
            node.blocked_tcp.difference_update(request.ports_tcp - node.reserved_tcp)
            node.blocked_udp.difference_update(request.ports_udp - node.reserved_udp)
        _count_group(node, request.group, sign)
        if request.enis:  # awsvpc addresses in use (filters.py: RESOURCE:ENI)
            _count_group(node, ENI_GROUP, sign * request.enis)
        node.pending_tasks_count = max(0, node.pending_tasks_count + sign)  # PROVISIONING
        if node.schedulable and self._sorted:
            old = {"cpu": old_cpu, "memory": old_memory}
            for field, entries in self._sorted.items():
                _move(entries, old[field], _amount(node, field), node)
        self._refresh(node, request, sign, old=(old_cpu, old_memory))

    def _refresh(
        self, node: Node, request: TaskRequest, sign: int, *, old: tuple[int, int]
    ) -> None:
        """Refresh what a commit/release can move: the shared members of a task shape
        the node crossed (it now fits where it did not, or the reverse), then the
        indexes of the groups whose count changed on the node, and of the node's other
        groups for a crossed shape. An index of a group the node has no task of does
        not list the node, so a placement costs O(its group's indexes + the node's
        groups when it crosses a shape), not O(indexes) (bench/README.md)."""
        old_cpu, old_memory = old
        crossed: set[tuple[int, int]] = set()
        if node.schedulable:
            for (_, cpu, memory), members in self._members.items():
                was = old_cpu >= cpu and old_memory >= memory
                if was != (node.cpu >= cpu and node.memory >= memory):
                    members.sync(node)
                    crossed.add((cpu, memory))
        group = request.group
        done: set[IndexKey] = set()
        for name in (group, ENI_GROUP) if request.enis else (group,):
            for key, index in self._by_group.get(name, {}).items():
                index.refresh(node, group, sign)
                done.add(key)
        if not crossed:
            return
        for other in list(node.task_groups):
            for key, index in self._by_group.get(other, {}).items():
                if key not in done and (key[2], key[3]) in crossed:
                    index.refresh(node, group, sign)

    @contextmanager
    def changing(self, arn: str) -> Iterator[Node]:
        """Change a node's bookkeeping in place (a task's status, ports bound, a stop).

        Most changes (a report PENDING -> RUNNING, ports bound) leave what the indexes
        key on as it was, and cost nothing more. Only when those keys moved does the
        node leave the indexes with its old keys and re-enter them with the new (the hot
        path of agent reports: bench/README.md)."""
        node = self._nodes[arn]
        before = _index_keys(node)
        try:
            yield node
        finally:
            after = _index_keys(node)
            if after != before:
                _set_index_keys(node, before)
                if node.schedulable:
                    for field, entries in self._sorted.items():
                        _discard(entries, _amount(node, field), node)
                self._index_remove(node)
                _set_index_keys(node, after)
                if node.schedulable:
                    for field, entries in self._sorted.items():
                        insort(entries, (_amount(node, field), node.idx, node))
                self._index_add(node)

    # -- derived lookups ----------------------------------------------------------
    def spread_index(self, group: str, attribute: str | None, cpu: int, memory: int) -> SpreadIndex:
        """The (lazily built, then maintained) index for spreading `group` tasks of
        shape (cpu, memory) over `attribute` values, or over instances if None."""
        key = (group, attribute, cpu, memory)
        index = self._indexes.pop(key, None)
        if index is None:
            members = self._members_of((attribute, cpu, memory))
            index = SpreadIndex(
                group, attribute, cpu, memory, self._nodes.values(), members=members
            )
            if len(self._indexes) >= _MAX_INDEXES:
                self._forget(next(iter(self._indexes)))
            self._by_group.setdefault(group, {})[key] = index
        else:  # its members are in use too: the last to evict
            self._members[key[1:]] = self._members.pop(key[1:])
        self._indexes[key] = index  # most recently used last
        return index

    def _members_of(self, key: MembersKey) -> Members:
        members = self._members.pop(key, None)
        if members is None:
            members = Members(*key, self._nodes.values())
            if len(self._members) >= _MAX_MEMBERS:  # with every index that shares them
                oldest = next(iter(self._members))
                for stale in [k for k in self._indexes if k[1:] == oldest]:
                    self._forget(stale)
                del self._members[oldest]
        self._members[key] = members  # most recently used last
        return members

    def _forget(self, key: IndexKey) -> None:
        del self._indexes[key]
        group = key[0]
        of_group = self._by_group[group]
        del of_group[key]
        if not of_group:
            del self._by_group[group]

    def matching(self, query: Query) -> tuple[frozenset[int], list[Node]]:
        """Nodes a memberOf query accepts: (all their idx, the schedulable ones).

        Cached per query text until instances change; a `dynamic` query (task:group,
        runningTasksCount) depends on placements and is evaluated afresh.
        """
        cached = None if query.dynamic else self._matches.get(query.text)
        if cached is None:
            hits = [node for node in self._nodes.values() if query.matches(node)]
            cached = (frozenset(n.idx for n in hits), [n for n in hits if n.schedulable])
            if not query.dynamic:
                self._matches[query.text] = cached
        return cached


IndexKeys = tuple[bool, int, int, dict[str, int], dict[str, str | None]]


def _count_group(node: Node, group: str, delta: int) -> None:
    count = node.task_groups.get(group, 0) + delta
    if count > 0:
        node.task_groups[group] = count
    else:
        node.task_groups.pop(group, None)


def _index_keys(node: Node) -> IndexKeys:
    """What the sorted lists and spread indexes read from a node."""
    return (
        node.schedulable,
        node.cpu,
        node.memory,
        dict(node.task_groups),
        dict(node.attributes),
    )


def _set_index_keys(node: Node, keys: IndexKeys) -> None:
    node.schedulable, node.cpu, node.memory, task_groups, attributes = keys
    node.task_groups.clear()  # in place: the node's dicts stay the same objects
    node.task_groups.update(task_groups)
    node.attributes.clear()
    node.attributes.update(attributes)
    node.attributes_changed()


def _amount(node: Node, field: str) -> int:
    return node.cpu if field == "cpu" else node.memory


def _discard(seq: list[Entry], value: int, node: Node) -> None:
    # Entries order by (remaining, idx); idx is unique, so `node` is never compared.
    del seq[bisect_left(seq, (value, node.idx, node))]


def _move(seq: list[Entry], old: int, new: int, node: Node) -> None:
    if old != new:
        _discard(seq, old, node)
        insort(seq, (new, node.idx, node))
