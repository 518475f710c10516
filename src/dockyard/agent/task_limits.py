"""Task-level cpu and memory as the agent enforces them (FARGATE-style definitions).

The server validated the values at RegisterTaskDefinition (`tasks/fargate.py`); the
agent only reads them: `task_worker` makes the task memory each container's hard limit
when the container sets none, and splits the task cpu as CPU shares over containers
without cpu. Pure.
"""

from __future__ import annotations

from typing import Any

from dockyard.wire.agent import DesiredTask


def task_level(definition: dict[str, Any], desired: DesiredTask) -> tuple[int, int]:
    """(cpu units, memory MiB) at task level (overrides win); 0 when not set."""
    overrides = desired.get("overrides", {})
    cpu = overrides.get("cpu") or definition.get("cpu")
    memory = overrides.get("memory") or definition.get("memory")
    return amount(cpu, "vcpu"), amount(memory, "gb")


def amount(value: object, unit: str) -> int:
    """Task-level amount: 512 or "512" -> 512; "1 vCPU" / "1 GB" -> 1024 (checked by the
    server at registration)."""
    text = str(value or "").strip().lower()
    scale = 1024 if text.endswith((unit, unit.replace("b", "ib"))) else 1
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    try:
        return round(float(number) * scale) if number else 0
    except ValueError:
        return 0
