"""Ranking: choose the best feasible instance by the placement strategy chain.

Role: given feasibility (`filters`) and live indexes (`state`, `spread`), pick
the instance whose key is smallest, comparing keys stage by stage as ECS chains
`placementStrategy`; the next stage only breaks the previous one's ties:

    binpack(memory|cpu)  key = remaining amount        (least left wins)
    spread(instanceId)   key = tasks of the group on the instance
    spread(attribute:X)  key = tasks of the group on all instances with its X
    random               ends the chain: pick uniformly among what is tied

A uniform random pick also breaks whatever ties remain at the end of the chain.
The answer is always the exact minimum (tests compare it with a brute-force
scan); the indexes only decide how much of the cluster is looked at:

* `_scan` - every candidate of a small pool, keys computed directly;
* `_binpack` - walk the sorted remaining list from the first that has enough;
* `_spread` - values by total, then (for spread(instanceId)) count buckets;
* random picks sample a bucket and re-draw on rejection, so a placement costs
  O(log n) when capacity is plentiful and the pool shrinks as the cluster fills.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from dockyard.errors import InvalidParameterException

from .filters import Feasibility
from .model import TaskRequest
from .node import Bucket, Node, NodePool
from .spread import SpreadIndex, ZeroPool
from .state import ClusterState, Entry

MAX_STRATEGIES = 5
SCAN_LIMIT = 8  # pools this small are scanned outright
NARROW_FACTOR = 4  # ... and so are pools under 1/4 of the instances that fit the shape
_TRIES = 12  # random draws before falling back to a scan
_VALUE = itemgetter(0)


@dataclass(frozen=True, slots=True)
class Stage:
    """One ranking stage: binpack on "cpu"/"memory", or spread on an attribute
    name (None = instanceId/host)."""

    kind: str
    field: str | None


def parse_strategy(raw: Sequence[Mapping[str, Any]]) -> tuple[Stage, ...]:
    """ECS placementStrategy JSON -> stages; `random` ends the chain."""
    return _parse_strategy(tuple((item.get("type"), item.get("field")) for item in raw))


@lru_cache(maxsize=256)
def _parse_strategy(raw: tuple[tuple[Any, Any], ...]) -> tuple[Stage, ...]:
    if len(raw) > MAX_STRATEGIES:
        raise InvalidParameterException(
            f"A maximum of {MAX_STRATEGIES} placement strategies is allowed."
        )
    stages: list[Stage] = []
    ended = False
    for raw_kind, raw_field in raw:
        kind = str(raw_kind or "").lower()
        field = str(raw_field or "")
        if kind == "random":
            ended = True
            continue
        if kind == "binpack":
            if field.lower() not in ("cpu", "memory"):
                raise InvalidParameterException(
                    f"Invalid binpack field {field!r}: expected cpu or memory."
                )
            stage = Stage("binpack", field.lower())
        elif kind == "spread":
            if field.lower() in ("instanceid", "host"):
                stage = Stage("spread", None)
            elif field.startswith("attribute:") and len(field) > len("attribute:"):
                stage = Stage("spread", field.removeprefix("attribute:"))
            else:
                raise InvalidParameterException(
                    f"Invalid spread field {field!r}: expected instanceId, host or "
                    "attribute:<name>."
                )
        else:
            raise InvalidParameterException(
                f"Invalid placement strategy type {kind!r}: expected random, spread or binpack."
            )
        if not ended:
            stages.append(stage)
    return tuple(stages)


class Picker:
    """Chooses instances for one `place()` call, one task at a time."""

    def __init__(
        self,
        state: ClusterState,
        request: TaskRequest,
        feasible: Feasibility,
        stages: tuple[Stage, ...],
        rng: random.Random,
    ) -> None:
        self.state = state
        self.request = request
        self.feasible = feasible
        self.stages = stages
        self.rng = rng
        self.keys = [self._key_function(stage) for stage in stages]

    def _index(self, attribute: str | None) -> SpreadIndex:
        req = self.request
        return self.state.spread_index(req.group, attribute, req.cpu, req.memory)

    def _key_function(self, stage: Stage) -> Callable[[Node], int]:
        if stage.kind == "binpack":
            return (lambda n: n.cpu) if stage.field == "cpu" else (lambda n: n.memory)
        if stage.field is None:
            group = self.request.group
            return lambda n: n.task_groups.get(group, 0)
        return self._index(stage.field).total_of

    # -- entry point ------------------------------------------------------------
    def pick(self) -> Node | None:
        """The best feasible instance, or None when nothing fits."""
        by_instance = self._index(None)
        fits_shape = by_instance.members.get(None) or Bucket()
        # The smallest set known to hold every feasible instance:
        pool: NodePool | ZeroPool = fits_shape
        allowed = self.feasible.allowed_nodes
        if allowed is not None and len(allowed) < len(pool):
            pool = allowed  # memberOf narrows more than resources do
        if self.feasible.distinct:
            idle = by_instance.zero(None)
            if len(idle) < len(pool):
                pool = idle  # distinctInstance: only instances without the group
        if not pool:
            return None
        if not self.stages:
            return self._sample([pool])
        narrow = len(pool) * NARROW_FACTOR < len(fits_shape)
        if len(pool) <= SCAN_LIMIT or narrow:
            return self._scan(pool, 0)
        if self.stages[0].kind == "binpack":
            return self._binpack(self.stages[0])
        return self._spread(self.stages[0])

    # -- strategies -------------------------------------------------------------
    def _binpack(
        self, stage: Stage, at: int = 0, within: Callable[[Node], bool] | None = None
    ) -> Node | None:
        """Stage `at` is binpack: walk up from the first node with enough left.

        `within` restricts the walk to the values a previous spread stage tied on
        (spread(AZ) + binpack: skip other AZs' nodes instead of scanning the AZ).
        """
        entries = self.state.sorted_by(stage.field or "memory")
        need = self.request.cpu if stage.field == "cpu" else self.request.memory
        i = bisect_left(entries, need, key=_VALUE)
        fits = self.feasible.fits
        while i < len(entries):
            value, _, node = entries[i]
            if (within is None or within(node)) and fits(node):
                tied: NodePool = _Span(entries, i, bisect_right(entries, value, lo=i, key=_VALUE))
                if within is not None:
                    tied = [n for n in tied if within(n)]
                if at + 1 < len(self.stages):
                    return self._scan(tied, at + 1)
                return self._sample([tied])
            i += 1
        return None

    def _spread(self, stage: Stage) -> Node | None:
        """Stage 0 is spread: values by ascending total, ties kept together."""
        index = self._index(stage.field)
        if stage.field is None:
            return self._walk_levels([(index, None)], 1)
        by_total: dict[int, list[str | None]] = {}
        for value in index.members:
            by_total.setdefault(index.totals.get(value, 0), []).append(value)
        after = self.stages[1] if len(self.stages) > 1 else None
        for total in sorted(by_total):
            values = by_total[total]
            if after is None:
                node = self._sample([index.members[v] for v in values])
            elif after == Stage("spread", None):
                node = self._walk_levels([(index, v) for v in values], 2)
            elif after.kind == "binpack":
                node = self._binpack(after, 1, _value_in(index, values))
            else:
                node = self._scan([n for v in values for n in index.members[v]], 1)
            if node is not None:
                return node
        return None

    def _walk_levels(self, spots: list[tuple[SpreadIndex, str | None]], rest: int) -> Node | None:
        """Instances by ascending task count (within each (index, value) spot); the
        first count with a fit wins."""
        counts = sorted({c for index, value in spots for c in index.counts(value)})
        for count in counts:
            pools = [index.pool(value, count) for index, value in spots if index.has(value, count)]
            if rest < len(self.stages):
                node = self._scan([n for pool in pools for n in pool], rest)
            else:
                node = self._sample(pools)
            if node is not None:
                return node
        return None

    # -- primitives -------------------------------------------------------------
    def _scan(self, nodes: Iterable[Node], first_stage: int) -> Node | None:
        """Exact: the feasible nodes with the smallest key from `first_stage` on."""
        keys = self.keys[first_stage:]
        fits = self.feasible.fits
        best: list[Node] = []
        best_key: tuple[int, ...] = ()
        for node in nodes:
            if not fits(node):
                continue
            key = tuple(k(node) for k in keys)
            if not best or key < best_key:
                best, best_key = [node], key
            elif key == best_key:
                best.append(node)
        return self.rng.choice(best) if best else None

    def _sample(self, pools: Sequence[NodePool | ZeroPool]) -> Node | None:
        """A uniformly random feasible node from the union of `pools` (a `ZeroPool` is
        drawn from by rejection: uniform over its nodes too)."""
        sizes = [len(p) for p in pools]
        total = sum(sizes)
        fits = self.feasible.fits
        for _ in range(min(_TRIES, total)):
            r = self.rng.randrange(total)
            node: Node | None = None
            for pool, size in zip(pools, sizes, strict=True):
                if r < size:
                    node = pool.draw(self.rng) if isinstance(pool, ZeroPool) else pool[r]
                    break
                r -= size
            if node is not None and fits(node):
                return node
        candidates = [n for pool in pools for n in pool if fits(n)]
        return self.rng.choice(candidates) if candidates else None


def _value_in(index: SpreadIndex, values: Iterable[str | None]) -> Callable[[Node], bool]:
    wanted = set(values)
    return lambda node: index.value_of(node) in wanted


class _Span:
    """entries[lo:hi] seen as nodes, without copying."""

    __slots__ = ("_entries", "_hi", "_lo")

    def __init__(self, entries: list[Entry], lo: int, hi: int) -> None:
        self._entries, self._lo, self._hi = entries, lo, hi

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, i: int, /) -> Node:
        return self._entries[self._lo + i][2]

    def __iter__(self) -> Iterator[Node]:
        return (self._entries[i][2] for i in range(self._lo, self._hi))
