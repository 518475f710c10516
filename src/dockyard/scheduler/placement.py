"""`place()`: the scheduler's entry point - feasibility -> rank -> pick, N times.

Role: assembles the pipeline for one RunTask/StartTask-sized request or one
service step. It parses the ECS JSON (strategy, constraints), places `count`
tasks ONE BY ONE - each committed to `state` before the next is chosen, so
binpack fills an instance before the next and spread alternates - and, if some
task fits nowhere, explains why as ECS does.

Decisions (see README.md):

* partial success: like ECS RunTask, the tasks that fit are placed and
  `failures` explains the rest (one entry per container instance, with the
  reason of the first filter that rejected it at the first failed placement);
* no strategy given: `RUN_TASK_DEFAULT_STRATEGY` (random). The service
  controller passes `SERVICE_DEFAULT_STRATEGY` (spread over AZs, then over
  instances) for services created without one, which is ECS's documented
  default for services plus the instance balancing its scheduler does;
* `place` MUTATES `state`: its placements stay committed so the next service
  planned in the same round sees them. `state.release(p)` undoes one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidParameterException

from .filters import Feasibility, closest_match, parse_constraints
from .model import Failure, Placement, PlacementResult, TaskRequest
from .node import Node
from .rank import Picker, parse_strategy
from .state import ClusterState

StrategyJson = Sequence[Mapping[str, Any]]
ConstraintJson = Sequence[Mapping[str, Any]]

RUN_TASK_DEFAULT_STRATEGY: tuple[dict[str, str], ...] = ({"type": "random"},)
SERVICE_DEFAULT_STRATEGY: tuple[dict[str, str], ...] = (
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "spread", "field": "instanceId"},
)


def place(  # noqa: PLR0917 - the documented positional signature
    state: ClusterState,
    request: TaskRequest,
    count: int,
    strategy: StrategyJson,
    constraints: ConstraintJson,
    rng: random.Random,
) -> PlacementResult:
    """Place `count` tasks of `request` on `state`'s instances.

    `strategy`/`constraints` are ECS placementStrategy/placementConstraints JSON
    (empty strategy = RUN_TASK_DEFAULT_STRATEGY); `rng` makes random choices
    reproducible.

    Raises InvalidParameterException for a malformed strategy, constraint or
    memberOf expression (before anything is placed).
    """
    if count < 0:
        raise InvalidParameterException("count must be at least 0.")
    stages = parse_strategy(strategy or RUN_TASK_DEFAULT_STRATEGY)
    feasible = Feasibility(state, request, parse_constraints(constraints))
    picker = Picker(state, request, feasible, stages, rng)
    placements: list[Placement] = []
    for _ in range(count):
        node = picker.pick()
        if node is None:
            break
        placements.append(state.commit(node.arn, request))
    unplaced = count - len(placements)
    if not unplaced:
        return PlacementResult(placements=placements, failures=[])
    rejections = _rejections(state, feasible)
    return PlacementResult(
        placements=placements,
        failures=[Failure(arn=node.arn, reason=reason) for node, reason in rejections],
        unplaced=unplaced,
        closest=closest_match(rejections),
    )


def _rejections(state: ClusterState, feasible: Feasibility) -> list[tuple[Node, str]]:
    """Every instance with the reason it cannot take the task (nothing fits)."""
    out: list[tuple[Node, str]] = []
    for node in state.nodes():
        reason = feasible.reason(node)
        if reason is None:  # pragma: no cover - the picker missed a fit: a bug
            raise AssertionError(f"{node.arn} fits but was not chosen")
        out.append((node, reason))
    return out
