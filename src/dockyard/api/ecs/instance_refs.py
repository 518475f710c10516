"""Finding container instances by ARN (long or short) or id, and the rules for their
attributes."""

from __future__ import annotations

import re
from typing import Any

from dockyard.arns import ref_name, scoped_arns
from dockyard.context import ApiContext
from dockyard.errors import InvalidParameterException
from dockyard.store import Kind, Tx

ATTRIBUTE_NAME = re.compile(r"^[a-zA-Z0-9_./-]{1,128}$")
ATTRIBUTE_VALUE = re.compile(r"^[a-zA-Z0-9_.@/\\: -]{1,128}$")


def _instance_id(ref: str) -> str:
    instance_id = ref_name(ref, "container-instance")
    if instance_id is None:
        raise InvalidParameterException(f"'{ref}' is not a container instance ARN.")
    return instance_id


def locate_instance(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], ref: str
) -> tuple[str, dict[str, Any] | None]:
    """The instance `ref` (an id, a long or a short ARN) names in this cluster: its ARN
    and document (None: no such instance; the ARN is then the long form). An instance
    registered with containerInstanceLongArnFormat disabled has the short ARN
    container-instance/<id>; its row's cluster column says whether it is this cluster's."""
    long, short = scoped_arns(
        ctx.identity, "container-instance", cluster["clusterName"], _instance_id(ref)
    )
    doc = tx.get(Kind.CONTAINER_INSTANCE, long)
    if doc is not None:
        return long, doc
    row = tx.get_row(Kind.CONTAINER_INSTANCE, short)
    if row is not None and row["cluster"] == cluster["clusterArn"]:
        return short, dict(row["doc"])
    return long, None


def instance_arn(ctx: ApiContext, tx: Tx, cluster: dict[str, Any], ref: str) -> str:
    """ARN or bare id -> the instance's ARN in this cluster (the long form when none)."""
    return locate_instance(ctx, tx, cluster, ref)[0]


def find_instance(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], ref: str
) -> dict[str, Any] | None:
    return locate_instance(ctx, tx, cluster, ref)[1]


def is_agent_attribute(name: str) -> bool:
    """Attributes the agent reports (not counted against the custom-attribute limit)."""
    return name.startswith(("ecs.", "com.amazonaws.ecs.", "dockyard."))


def check_attribute(attribute: dict[str, Any]) -> None:
    name = attribute.get("name", "")
    if not ATTRIBUTE_NAME.match(name):
        raise InvalidParameterException(
            f"Attribute name '{name}' is invalid: up to 128 letters, numbers, hyphens, "
            "underscores, periods and forward slashes."
        )
    value = attribute.get("value")
    if value is not None and (not ATTRIBUTE_VALUE.match(value) or value != value.strip()):
        raise InvalidParameterException(
            f"Attribute value '{value}' of '{name}' is invalid: up to 128 letters, numbers, "
            "hyphens, underscores, periods, at signs, slashes, colons or spaces, without leading "
            "or trailing whitespace."
        )
