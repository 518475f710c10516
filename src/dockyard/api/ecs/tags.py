"""TagResource, UntagResource, ListTagsForResource, and the tag rules every Create uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException, ResourceNotFoundException
from dockyard.store import Kind, Tx

MAX_TAGS = 50

# ECS resource type in an ARN -> the store kind that holds it.
_KINDS = {
    "cluster": Kind.CLUSTER,
    "task-definition": Kind.TASK_DEFINITION,
    "container-instance": Kind.CONTAINER_INSTANCE,
    "task": Kind.TASK,
    "service": Kind.SERVICE,
}


def check_tags(tags: Sequence[dict[str, Any]]) -> None:
    """ECS's tag rules: at most 50, key 1-128 chars, value up to 256, no `aws:` prefix."""
    if len(tags) > MAX_TAGS:
        raise InvalidParameterException(
            f"The number of tags must be {MAX_TAGS} or fewer; got {len(tags)}."
        )
    seen: set[str] = set()
    for tag in tags:
        key = tag.get("key")
        if not key or len(key) > 128:
            raise InvalidParameterException("Tag keys must be between 1 and 128 characters.")
        if len(tag.get("value", "")) > 256:
            raise InvalidParameterException(f"The value of tag '{key}' exceeds 256 characters.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(
                f"Tag key '{key}' uses the reserved prefix 'aws:'; it cannot be set by users."
            )
        if key in seen:
            raise InvalidParameterException(f"Duplicate tag key '{key}'.")
        seen.add(key)


def _resource_key(tx: Tx, resource_arn: str) -> str:
    """The ARN under which the resource's tags are kept; raises when it does not exist."""
    arn = parse_arn(resource_arn)
    kind = _KINDS.get(arn.resource_type) if arn and arn.service == "ecs" else None
    if arn is None or kind is None:
        raise InvalidParameterException(f"The ARN '{resource_arn}' is not a valid ECS resource.")
    doc = tx.get(kind, resource_arn)
    if doc is None or doc.get("status", doc.get("lastStatus")) in {
        "INACTIVE",
        "DELETE_IN_PROGRESS",
    }:
        raise ResourceNotFoundException("The specified resource could not be found.")
    return resource_arn


def tag_resource(ctx: ApiContext, params: Params) -> Result:
    check_tags(params["tags"])
    with ctx.store.transaction() as tx:
        key = _resource_key(tx, params["resourceArn"])
        merged = {t["key"]: t for t in tx.get_tags(key)} | {t["key"]: t for t in params["tags"]}
        if len(merged) > MAX_TAGS:
            raise InvalidParameterException(
                f"A resource can have at most {MAX_TAGS} tags; this would make {len(merged)}."
            )
        tx.put_tags(key, params["tags"])
    return {}


def untag_resource(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        tx.remove_tags(_resource_key(tx, params["resourceArn"]), params["tagKeys"])
    return {}


def list_tags_for_resource(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        return {"tags": tx.get_tags(_resource_key(tx, params["resourceArn"]))}
