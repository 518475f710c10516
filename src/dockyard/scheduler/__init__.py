"""Pure placement scheduler: feasibility -> rank -> pick, as ECS places tasks.

No I/O, store, clock or Docker: functions of data (see README.md here).

    state = ClusterState(instance_views)
    request = task_request_from_definition(task_definition, overrides, group)
    result = place(state, request, count, strategy, constraints, rng)
"""

from .filters import (
    AGENT,
    CPU,
    DISTINCT_INSTANCE,
    INACTIVE,
    MEMBER_OF,
    MEMORY,
    PORTS,
)
from .model import (
    DEFAULT_DYNAMIC_PORT_RANGE,
    ClosestMatch,
    Failure,
    InstanceView,
    Placement,
    PlacementResult,
    TaskRequest,
)
from .placement import RUN_TASK_DEFAULT_STRATEGY, SERVICE_DEFAULT_STRATEGY, place
from .query import Query, compile_query
from .state import ClusterState
from .taskdef import parse_cpu, parse_memory, task_request_from_definition

__all__ = [
    "AGENT",
    "CPU",
    "DEFAULT_DYNAMIC_PORT_RANGE",
    "DISTINCT_INSTANCE",
    "INACTIVE",
    "MEMBER_OF",
    "MEMORY",
    "PORTS",
    "RUN_TASK_DEFAULT_STRATEGY",
    "SERVICE_DEFAULT_STRATEGY",
    "ClosestMatch",
    "ClusterState",
    "Failure",
    "InstanceView",
    "Placement",
    "PlacementResult",
    "Query",
    "TaskRequest",
    "compile_query",
    "parse_cpu",
    "parse_memory",
    "place",
    "task_request_from_definition",
]
