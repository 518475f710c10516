"""Registered CPU and MEMORY for an instance registered without totalResources.

RegisterContainerInstance on AWS needs no totalResources: ECS knows the EC2
instance type from the instance identity document. Dockyard keeps a table of
common types (vCPUs, GiB) and registers what the ECS agent would: CPU =
vCPUs * 1024 units; MEMORY = the type's MiB minus what the OS keeps (the ECS
agent registers /proc/meminfo's MemTotal, which is below the nominal size; we
model that as RESERVED_PERCENT of the nominal MiB, at least RESERVED_MIN_MIB).
Without a document, or with a type not in the table, the defaults below apply
(those of a t3.medium: 2 vCPU, 4 GiB). Pure: no store, no I/O. Neighbours:
`api/ecs/container_instances.py` (caller), `resources.py` (the Resource shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESERVED_PERCENT = 5
RESERVED_MIN_MIB = 256
DEFAULT_INSTANCE_TYPE = "t3.medium"

# type -> (vCPUs, GiB). Families: t2, t3, t3a, t4g, m5, m6i, m7g, c5, c6i, c7g, r5, r6i.
_SIZES_GENERAL = {  # m-family: 4 GiB per vCPU
    "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
    "16xlarge": 64, "24xlarge": 96,
}  # fmt: skip
_T3 = {
    "nano": (2, 0.5), "micro": (2, 1), "small": (2, 2), "medium": (2, 4), "large": (2, 8),
    "xlarge": (4, 16), "2xlarge": (8, 32),
}  # fmt: skip
_T2 = {
    "nano": (1, 0.5), "micro": (1, 1), "small": (1, 2), "medium": (2, 4), "large": (2, 8),
    "xlarge": (4, 16), "2xlarge": (8, 32),
}  # fmt: skip


def _table() -> dict[str, tuple[int, float]]:
    table: dict[str, tuple[int, float]] = {}
    for family in ("t3", "t3a", "t4g"):
        table.update({f"{family}.{size}": spec for size, spec in _T3.items()})
    table.update({f"t2.{size}": spec for size, spec in _T2.items()})
    for family, gib_per_vcpu in (
        ("m5", 4), ("m6i", 4), ("m7g", 4), ("c5", 2), ("c6i", 2), ("c7g", 2),
        ("r5", 8), ("r6i", 8),
    ):  # fmt: skip
        for size, vcpus in _SIZES_GENERAL.items():
            table[f"{family}.{size}"] = (vcpus, float(vcpus * gib_per_vcpu))
    # c5 sizes that differ from the 2 GiB/vCPU pattern
    table.update({"c5.9xlarge": (36, 72.0), "c5.18xlarge": (72, 144.0)})
    return table


INSTANCE_TYPES = _table()


def registered_memory_mib(gib: float) -> int:
    nominal = int(gib * 1024)
    return nominal - max(RESERVED_MIN_MIB, nominal * RESERVED_PERCENT // 100)


def instance_type_of(document: Mapping[str, Any]) -> str | None:
    """The (parsed) identity document's instanceType (None when absent)."""
    value = document.get("instanceType")
    return value if isinstance(value, str) and value else None


def derived_resources(instance_type: str | None) -> dict[str, int]:
    """{"CPU": units, "MEMORY": MiB} for a type; unknown or None -> the default type."""
    vcpus, gib = INSTANCE_TYPES.get(instance_type or "", INSTANCE_TYPES[DEFAULT_INSTANCE_TYPE])
    return {"CPU": vcpus * 1024, "MEMORY": registered_memory_mib(gib)}


def with_defaults(total: list[dict[str, Any]], document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """totalResources with CPU and MEMORY filled in when missing (given ones win), from
    the parsed identity document ({} when there is none)."""
    names = {r.get("name") for r in total}
    derived = derived_resources(instance_type_of(document))
    added = [
        {"name": name, "type": "INTEGER", "integerValue": value}
        for name, value in derived.items()
        if name not in names
    ]
    return [*total, *added]
