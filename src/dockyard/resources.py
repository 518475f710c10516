"""Container instance resources (CPU, MEMORY, PORTS, PORTS_UDP) in ECS's Resource shape.

`registeredResources` come from the agent; `remainingResources` are kept up to
date incrementally as tasks are placed and stopped (see the scheduler), never
recomputed by scanning tasks on the request path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dockyard.errors import InvalidParameterException

DEFAULT_RESERVED_PORTS = ["22", "2375", "2376", "51678", "51679"]
NUMERIC = {"INTEGER", "LONG", "DOUBLE"}


def integer_resource(name: str, value: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "INTEGER",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": int(value),
    }


def ports_resource(name: str, ports: Iterable[int | str]) -> dict[str, Any]:
    values = sorted({int(p) for p in ports})
    return {
        "name": name,
        "type": "STRINGSET",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": 0,
        "stringSetValue": [str(p) for p in values],
    }


def _numeric(resource: dict[str, Any]) -> int:
    kind = resource.get("type", "INTEGER")
    field = {"INTEGER": "integerValue", "LONG": "longValue", "DOUBLE": "doubleValue"}[kind]
    value = resource.get(field)
    if value is None:
        raise InvalidParameterException(
            f"Resource {resource['name']} of type {kind} needs a {field}."
        )
    if value < 0:
        raise InvalidParameterException(f"Resource {resource['name']} cannot be negative.")
    return int(value)


def normalize_registered(total: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's totalResources -> registeredResources, with ECS's defaults."""
    by_name = {r["name"]: r for r in total}
    for required in ("CPU", "MEMORY"):
        if required not in by_name:
            raise InvalidParameterException(
                f"totalResources must include {required}: Dockyard has no EC2 instance type to "
                "derive it from."
            )
    out = []
    for name, resource in by_name.items():
        kind = resource.get("type", "INTEGER")
        if name in {"PORTS", "PORTS_UDP"} or kind == "STRINGSET":
            values = resource.get("stringSetValue", [])
            for port in values:
                if not str(port).isdigit() or not 0 < int(port) <= 65535:
                    raise InvalidParameterException(f"Invalid port '{port}' in resource {name}.")
            out.append(ports_resource(name, values))
        elif kind in NUMERIC:
            out.append(integer_resource(name, _numeric(resource)))
        else:
            raise InvalidParameterException(f"Invalid type '{kind}' for resource {name}.")
    names = {r["name"] for r in out}
    if "PORTS" not in names:
        out.append(ports_resource("PORTS", DEFAULT_RESERVED_PORTS))
    if "PORTS_UDP" not in names:
        out.append(ports_resource("PORTS_UDP", []))
    order = {"CPU": 0, "MEMORY": 1, "PORTS": 2, "PORTS_UDP": 3}
    return sorted(out, key=lambda r: (order.get(r["name"], 9), r["name"]))


def resource_value(resources: list[dict[str, Any]], name: str) -> Any:
    for resource in resources:
        if resource["name"] == name:
            if resource["type"] == "STRINGSET":
                return resource.get("stringSetValue", [])
            return resource.get("integerValue", 0)
    return None
