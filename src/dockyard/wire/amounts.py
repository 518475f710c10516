"""Task and container cpu/memory amounts as task definitions write them (pure).

    cpu:    256 | "256" | "1 vCPU" | "0.25 vcpu"        -> CPU units (1 vCPU = 1024)
    memory: 512 | "512" | "512 MiB" | "1 GB" | "0.5GiB" -> MiB (1 GB = 1024)

One parser for both ends: the server reserves capacity and validates at
RegisterTaskDefinition (scheduler/taskdef.py turns `ValueError` into
InvalidParameterException), the agent enforces the same amounts (agent/task_limits.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_AMOUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_CPU_UNITS = {"": 1, "vcpu": 1024}
_MEMORY_UNITS = {"": 1, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024}


def parse_cpu(value: object) -> int:
    """CPU units: "256" -> 256, "1 vCPU" -> 1024, "0.25 vcpu" -> 256; ValueError if not."""
    return _parse_amount(value, _CPU_UNITS, "cpu")


def parse_memory(value: object) -> int:
    """MiB: "512" -> 512, "1 GB" -> 1024, "0.5GB" -> 512; ValueError if not."""
    return _parse_amount(value, _MEMORY_UNITS, "memory")


def _parse_amount(value: object, units: Mapping[str, int], what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _AMOUNT.fullmatch(value) if isinstance(value, str) else None
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in units:
        raise ValueError(f"Invalid {what} value {value!r} in the task definition.")
    return round(float(match.group(1)) * units[unit])
