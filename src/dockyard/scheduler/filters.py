"""Feasibility: the chain of tiny filters an instance must pass to take a task.

Role: says yes/no for one (instance, task) and, on no, WHY - the reason of the
first filter that rejected it, which becomes an ECS `failures[].reason` and the
closest-match sentence of a service event. Neighbours: `rank` asks `fits()`
while choosing; `placement` asks `reason()` when explaining a failure.

The chain, in ECS's order (resources, then constraints):

    status ACTIVE  -> agent connected -> cpu -> memory -> ports -> ENI -> memberOf
    "INACTIVE"        "AGENT"            "RESOURCE:CPU" ...  "RESOURCE:PORTS" "RESOURCE:ENI"
    -> distinctInstance
                                         "MemberOf placement constraint unsatisfied."
                                         "DistinctInstance placement constraint unsatisfied."

Within one `place()` call feasibility only ever goes from yes to no (each
placement takes resources; memberOf is evaluated once, at the start of the
call), so a rejection is remembered for the rest of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidParameterException

from .model import ENI_GROUP, ENI_POOL_ATTRIBUTE, ClosestMatch, TaskRequest
from .node import Node
from .query import Query, compile_query
from .state import ClusterState

INACTIVE = "INACTIVE"
AGENT = "AGENT"
CPU = "RESOURCE:CPU"
MEMORY = "RESOURCE:MEMORY"
PORTS = "RESOURCE:PORTS"
ENI = "RESOURCE:ENI"  # awsvpc: the instance's address pool is used up (ECS: ENI limit)
MEMBER_OF = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE = "DistinctInstance placement constraint unsatisfied."

MAX_CONSTRAINTS = 10


@dataclass(frozen=True, slots=True)
class Constraints:
    member_of: tuple[Query, ...] = ()
    distinct_instance: bool = False


def parse_constraints(raw: Sequence[Mapping[str, Any]]) -> Constraints:
    """ECS placementConstraints JSON -> Constraints (InvalidParameterException if bad)."""
    if len(raw) > MAX_CONSTRAINTS:
        raise InvalidParameterException(
            f"A maximum of {MAX_CONSTRAINTS} placement constraints is allowed."
        )
    queries: list[Query] = []
    distinct = False
    for item in raw:
        kind = str(item.get("type") or "")
        expression = item.get("expression")
        if kind.lower() == "distinctinstance":
            if expression:
                raise InvalidParameterException(
                    "An expression cannot be specified for a distinctInstance placement constraint."
                )
            distinct = True
        elif kind.lower() == "memberof":
            if not expression:
                raise InvalidParameterException(
                    "An expression is required for a memberOf placement constraint."
                )
            queries.append(compile_query(str(expression)))
        else:
            raise InvalidParameterException(
                f"Invalid placement constraint type {kind!r}: "
                "expected distinctInstance or memberOf."
            )
    return Constraints(tuple(queries), distinct)


class Feasibility:
    """The filter chain bound to one request and one `place()` call."""

    __slots__ = ("allowed", "allowed_nodes", "distinct", "rejected", "request")

    def __init__(self, state: ClusterState, request: TaskRequest, constraints: Constraints) -> None:
        self.request = request
        self.distinct = constraints.distinct_instance
        self.rejected: set[int] = set()
        # memberOf: the instances every expression accepts (None = no constraint).
        self.allowed: frozenset[int] | None = None
        self.allowed_nodes: list[Node] | None = None
        for query in constraints.member_of:
            ids, nodes = state.matching(query)
            if self.allowed is None:
                self.allowed, self.allowed_nodes = ids, nodes
            else:
                self.allowed &= ids
                self.allowed_nodes = [n for n in nodes if n.idx in self.allowed]

    def fits(self, node: Node) -> bool:
        if node.idx in self.rejected:
            return False
        if self.reason(node) is None:
            return True
        self.rejected.add(node.idx)
        return False

    def reason(self, node: Node) -> str | None:
        """The reason of the first filter rejecting `node`, or None if it fits."""
        for reason, accepts in _CHAIN:
            if not accepts(self, node):
                return reason
        return None


def _active(f: Feasibility, node: Node) -> bool:
    return node.status == "ACTIVE"


def _agent(f: Feasibility, node: Node) -> bool:
    return node.agent_connected


def _cpu(f: Feasibility, node: Node) -> bool:
    return node.cpu >= f.request.cpu


def _memory(f: Feasibility, node: Node) -> bool:
    return node.memory >= f.request.memory


def _ports(f: Feasibility, node: Node) -> bool:
    """Static host ports free, and enough free ports left in the dynamic range.

    The agent picks dynamic ports at start; we only check that enough remain
    after ports in use, ports promised to pending tasks and our static ones.
    """
    req = f.request
    return (
        req.ports_tcp.isdisjoint(node.blocked_tcp)
        and req.ports_udp.isdisjoint(node.blocked_udp)
        and _enough_dynamic(node.blocked_tcp, node.pending_tcp, req.ports_tcp, req, "tcp")
        and _enough_dynamic(node.blocked_udp, node.pending_udp, req.ports_udp, req, "udp")
    )


def _enough_dynamic(
    blocked: set[int], pending: int, static: frozenset[int], req: TaskRequest, proto: str
) -> bool:
    needed = req.dynamic_ports_tcp if proto == "tcp" else req.dynamic_ports_udp
    if not needed:
        return True
    low, high = req.dynamic_port_range
    size = high - low + 1
    if len(blocked) + len(static) + pending + needed <= size:
        return True  # enough even if every blocked port were in the range: O(1)
    taken = sum(1 for p in blocked if low <= p <= high) + sum(1 for p in static if low <= p <= high)
    return size - taken - pending >= needed


def _enis(f: Feasibility, node: Node) -> bool:
    """A free address in the instance's awsvpc pool. An instance without a pool is left
    to the implicit memberOf on ecs.capability.task-eni (tasks/awsvpc.py)."""
    if not f.request.enis:
        return True
    size = node.attributes.get(ENI_POOL_ATTRIBUTE)
    if size is None or not size.isdigit():
        return True
    return node.task_groups.get(ENI_GROUP, 0) + f.request.enis <= int(size)


def _member_of(f: Feasibility, node: Node) -> bool:
    return f.allowed is None or node.idx in f.allowed


def _distinct_instance(f: Feasibility, node: Node) -> bool:
    # Counts tasks of the group already there AND those placed earlier in this
    # call: `commit` adds to task_groups as it goes.
    return not f.distinct or not node.task_groups.get(f.request.group)


_CHAIN: tuple[tuple[str, Callable[[Feasibility, Node], bool]], ...] = (
    (INACTIVE, _active),
    (AGENT, _agent),
    (CPU, _cpu),
    (MEMORY, _memory),
    (PORTS, _ports),
    (ENI, _enis),
    (MEMBER_OF, _member_of),
    (DISTINCT_INSTANCE, _distinct_instance),
)
_DEPTH = {reason: depth for depth, (reason, _) in enumerate(_CHAIN)}
_DETAIL = {
    CPU: "has insufficient CPU units available.",
    MEMORY: "has insufficient memory available.",
    PORTS: "is already using a port required by your task.",
    ENI: "has no free awsvpc address (elastic network interface) for your task.",
}


def closest_match(rejections: Sequence[tuple[Node, str]]) -> ClosestMatch | None:
    """The rejected instance that got furthest down the chain; among those
    stopped by cpu or memory, the one with the most of it left."""

    def score(item: tuple[Node, str]) -> tuple[int, int]:
        node, reason = item
        left = node.cpu if reason == CPU else node.memory if reason == MEMORY else 0
        return (_DEPTH.get(reason, -1), left)

    if not rejections:
        return None
    node, reason = max(rejections, key=score)
    detail = _DETAIL.get(reason, f'encountered error "{reason}".')
    return ClosestMatch(instance_arn=node.arn, reason=reason, detail=detail)
