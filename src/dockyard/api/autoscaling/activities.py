"""DescribeScalingActivities, and tags on scalable targets.

Activities are written by the scaling controller (`controllers/scaling.py`) and by
RegisterScalableTarget when new bounds move the desired count; newest first, as
AWS lists them. Not-scaled activities (NotScaledReasons) only with
IncludeNotScaledActivities.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.autoscaling.paging import paginate
from dockyard.autoscaling.errors import ResourceNotFoundException, ValidationException
from dockyard.context import ApiContext, Params, Result
from dockyard.store import Kind, Tx

MAX_TAGS = 50


def describe_scaling_activities(ctx: ApiContext, params: Params) -> Result:
    where: dict[str, Any] = {"service_namespace": params["ServiceNamespace"]}
    if params.get("ScalableDimension") and not params.get("ResourceId"):
        raise ValidationException("ResourceId is required when ScalableDimension is given.")
    if params.get("ResourceId"):
        where["resource_id"] = params["ResourceId"]
    include_not_scaled = bool(params.get("IncludeNotScaledActivities"))
    dimension = params.get("ScalableDimension")
    with ctx.store.read() as tx:
        rows = tx.find(Kind.SCALING_ACTIVITY, where)
    activities = [
        a
        for a in rows
        if (include_not_scaled or "NotScaledReasons" not in a)
        and (dimension is None or a["ScalableDimension"] == dimension)
    ]
    # Newest first: the key sorts descending start times ascending.
    return paginate(
        params,
        activities,
        lambda a: f"{10**13 - round(a['StartTime'] * 1000):014d}|{a['ActivityId']}",
        "ScalingActivities",
    )


def _target(tx: Tx, arn: str) -> dict[str, Any]:
    target = tx.get(Kind.SCALABLE_TARGET, arn)
    if target is None:
        raise ResourceNotFoundException(f"Resource {arn} not found.")
    return target


def tag_resource(ctx: ApiContext, params: Params) -> Result:
    arn, tags = params["ResourceARN"], params["Tags"]
    with ctx.store.transaction() as tx:
        _target(tx, arn)
        existing = {t["key"] for t in tx.get_tags(arn)}
        if len(existing | set(tags)) > MAX_TAGS:
            raise AwsTooManyTags(f"A scalable target can have at most {MAX_TAGS} tags.")
        tx.put_tags(arn, [{"key": k, "value": v} for k, v in tags.items()])
    return {}


def untag_resource(ctx: ApiContext, params: Params) -> Result:
    arn = params["ResourceARN"]
    with ctx.store.transaction() as tx:
        _target(tx, arn)
        tx.remove_tags(arn, list(params["TagKeys"]))
    return {}


def list_tags_for_resource(ctx: ApiContext, params: Params) -> Result:
    arn = params["ResourceARN"]
    with ctx.store.read() as tx:
        _target(tx, arn)
        tags = tx.get_tags(arn)
    return {"Tags": {t["key"]: t["value"] for t in tags}}


class AwsTooManyTags(ValidationException):
    code = "TooManyTagsException"
