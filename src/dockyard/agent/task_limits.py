"""Task-level cpu and memory as the agent enforces them (FARGATE-style definitions).

The server validated the values at RegisterTaskDefinition (`tasks/fargate.py`) with the
parser both ends share (`wire/amounts.py`); the agent only reads them: `task_specs` makes
the task memory each container's hard limit when the container sets none, and the task
cpu each container's hard CPU ceiling (Docker NanoCpus), also split as CPU shares over
containers without cpu for their relative weight. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.wire.agent import DesiredTask
from dockyard.wire.amounts import parse_cpu, parse_memory


def task_level(definition: dict[str, Any], desired: DesiredTask) -> tuple[int, int]:
    """(cpu units, memory MiB) at task level (overrides win); 0 when not set."""
    overrides = desired.get("overrides", {})
    cpu = overrides.get("cpu") or definition.get("cpu")
    memory = overrides.get("memory") or definition.get("memory")
    return amount(cpu, parse_cpu), amount(memory, parse_memory)


def amount(value: object, parse: Callable[[object], int]) -> int:
    """A task-level amount parsed as the server parsed it at registration (wire/amounts.py);
    0 when not set (or, should it ever reach the agent, not an amount)."""
    if value is None or value == "":
        return 0
    try:
        return parse(value)
    except ValueError:
        return 0
