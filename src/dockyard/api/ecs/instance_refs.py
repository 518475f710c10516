"""Finding container instances by ARN or id, and the rules for their attributes."""

from __future__ import annotations

import re
from typing import Any

from dockyard.arns import parse_arn
from dockyard.context import ApiContext
from dockyard.errors import InvalidParameterException
from dockyard.store import Kind, Tx

ATTRIBUTE_NAME = re.compile(r"^[a-zA-Z0-9_./-]{1,128}$")
ATTRIBUTE_VALUE = re.compile(r"^[a-zA-Z0-9_.@/\\: -]{1,128}$")


def instance_arn(ctx: ApiContext, cluster: dict[str, Any], ref: str) -> str:
    """ARN or bare id -> the instance's ARN in this cluster."""
    arn = parse_arn(ref)
    if arn is not None:
        if arn.resource_type != "container-instance":
            raise InvalidParameterException(f"'{ref}' is not a container instance ARN.")
        ref = arn.resource_path.rsplit("/", 1)[-1]
    return ctx.identity.ecs(f"container-instance/{cluster['clusterName']}/{ref}")


def find_instance(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], ref: str
) -> dict[str, Any] | None:
    return tx.get(Kind.CONTAINER_INSTANCE, instance_arn(ctx, cluster, ref))


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
