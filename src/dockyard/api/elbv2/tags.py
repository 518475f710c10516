"""AddTags, RemoveTags, DescribeTags for load balancers, target groups, listeners, rules
and trust stores.

Tags live in the store's tags table (lowercase key/value, shared with ECS);
ELBv2 spells them {"Key", "Value"}. A tag key given twice is DuplicateTagKeys where the
operation models it (AddTags and CreateLoadBalancer pass it to `check_tags`; CreateTrustStore
models it too), else the generic ValidationError (CreateListener, CreateRule, ...).
"""

from __future__ import annotations

from typing import Any

from dockyard.api.elbv2.refs import get_resource
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import DuplicateTagKeys, ElbError, TooManyTags, ValidationError
from dockyard.store import Tx

MAX_TAGS = 50
MAX_RESOURCES = 20


def check_tags(tags: list[dict[str, Any]], duplicate: type[ElbError] = ValidationError) -> None:
    if len(tags) > MAX_TAGS:
        raise TooManyTags(f"A resource can have at most {MAX_TAGS} tags")
    keys = [tag["Key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise duplicate("A tag key was specified more than once")
    for tag in tags:
        key, value = tag["Key"], tag.get("Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValidationError("Tag keys must be 1-128 characters and values up to 256")
        if key.lower().startswith("aws:"):
            raise ValidationError(f"Tag key '{key}' uses the reserved prefix 'aws:'")


def put_tags(tx: Tx, arn: str, tags: list[dict[str, Any]]) -> None:
    """Add or overwrite tags of a resource (checked first)."""
    check_tags(tags)
    existing = {tag["key"] for tag in tx.get_tags(arn)}
    if len(existing | {tag["Key"] for tag in tags}) > MAX_TAGS:
        raise TooManyTags(f"A resource can have at most {MAX_TAGS} tags")
    tx.put_tags(arn, [{"key": tag["Key"], "value": tag.get("Value", "")} for tag in tags])


def tags_of(tx: Tx, arn: str) -> list[dict[str, str]]:
    return [{"Key": tag["key"], "Value": tag["value"]} for tag in tx.get_tags(arn)]


def _resources(params: Params) -> list[str]:
    arns: list[str] = params["ResourceArns"]
    if not 1 <= len(arns) <= MAX_RESOURCES:
        raise ValidationError(f"Specify between 1 and {MAX_RESOURCES} resource ARNs")
    return arns


def add_tags(ctx: ApiContext, params: Params) -> Result:
    check_tags(params["Tags"], DuplicateTagKeys)
    with ctx.store.transaction() as tx:
        for arn in _resources(params):
            get_resource(tx, arn)
            put_tags(tx, arn, params["Tags"])
    return {}


def remove_tags(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        for arn in _resources(params):
            get_resource(tx, arn)
            tx.remove_tags(arn, params["TagKeys"])
    return {}


def describe_tags(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        descriptions = []
        for arn in _resources(params):
            get_resource(tx, arn)
            descriptions.append({"ResourceArn": arn, "Tags": tags_of(tx, arn)})
    return {"TagDescriptions": descriptions}
