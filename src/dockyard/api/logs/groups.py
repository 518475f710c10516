"""CloudWatch Logs groups and streams: create, delete, describe, retention.

Thin: checks the rules botocore's model cannot express (name patterns, retention
values, ordering options), calls `LogStore` and shapes LogGroup / LogStream as AWS
does. Errors use the service's own codes and texts.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.api.pagination import decode_token, encode_token
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import AwsError, InvalidParameterException, ServerException
from dockyard.logs.store import Group, LogStore, Stream

GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]+")
STREAM_NAME = re.compile(r"[^:*]*")
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
DESCRIBE_LIMIT = 50


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(AwsError):
    code = "ResourceAlreadyExistsException"


def logs_store(ctx: ApiContext) -> LogStore:
    if ctx.logs is None:
        raise ServerException("CloudWatch Logs is not enabled on this server.")
    return ctx.logs


def now_ms(ctx: ApiContext) -> int:
    return int(ctx.clock() * 1000)


def group_arn(ctx: ApiContext, name: str) -> str:
    return ctx.identity.arn("logs", f"log-group:{name}")


def group_name(params: Params, *, required: bool = True) -> str:
    """logGroupName, or the name inside logGroupIdentifier (a name or an ARN)."""
    name = params.get("logGroupName")
    identifier = params.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise InvalidParameterException(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters."
        )
    if identifier is not None:
        name = identifier.split(":log-group:", 1)[1] if ":log-group:" in identifier else identifier
        name = name.removesuffix(":*")
    if name is None and required:
        raise InvalidParameterException("Either logGroupName or logGroupIdentifier is required.")
    return name or ""


def find_group(ctx: ApiContext, params: Params) -> Group:
    group = logs_store(ctx).group(group_name(params))
    if group is None:
        raise ResourceNotFoundException("The specified log group does not exist.")
    return group


def find_stream(ctx: ApiContext, group: Group, name: str) -> Stream:
    stream = logs_store(ctx).stream(group.id, name)
    if stream is None:
        raise ResourceNotFoundException("The specified log stream does not exist.")
    return stream


def check_names(group: str | None = None, stream: str | None = None) -> None:
    if group is not None and not GROUP_NAME.fullmatch(group):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{group}' at 'logGroupName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )
    if stream is not None and not STREAM_NAME.fullmatch(stream):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{stream}' at 'logStreamName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )


def _limit(params: Params, maximum: int) -> int:
    limit = int(params.get("limit", maximum))
    if not 1 <= limit <= maximum:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            f"constraint: Member must have value less than or equal to {maximum}"
        )
    return limit


# --- groups -------------------------------------------------------------------------------


def create_log_group(ctx: ApiContext, params: Params) -> Result:
    name = params["logGroupName"]
    check_names(group=name)
    if not logs_store(ctx).create_group(name, now_ms(ctx)):
        raise ResourceAlreadyExistsException("The specified log group already exists")
    return {}


def delete_log_group(ctx: ApiContext, params: Params) -> Result:
    if not logs_store(ctx).delete_group(params["logGroupName"]):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return {}


def group_shape(ctx: ApiContext, group: Group) -> dict[str, Any]:
    arn = group_arn(ctx, group.name)
    out: dict[str, Any] = {
        "logGroupName": group.name,
        "creationTime": group.created,
        "metricFilterCount": 0,
        "arn": f"{arn}:*",
        "logGroupArn": arn,
        "storedBytes": group.stored_bytes,
        "logGroupClass": "STANDARD",
    }
    if group.retention_days is not None:
        out["retentionInDays"] = group.retention_days
    return out


def describe_log_groups(ctx: ApiContext, params: Params) -> Result:
    prefix = params.get("logGroupNamePrefix", "")
    contains = params.get("logGroupNamePattern", "")
    if prefix and contains:
        raise InvalidParameterException(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    limit = _limit(params, DESCRIBE_LIMIT)
    token = params.get("nextToken")
    key = decode_token(token) if token else [""]
    if len(key) != 1 or not isinstance(key[0], str):
        raise InvalidParameterException("The specified nextToken is invalid.")
    after = key[0]
    store = logs_store(ctx)
    wanted = params.get("logGroupIdentifiers")
    if wanted:
        found = [store.group(group_name({"logGroupIdentifier": w})) for w in wanted]
        groups = sorted((g for g in found if g is not None), key=lambda g: g.name)
        return {"logGroups": [group_shape(ctx, g) for g in groups]}
    groups = store.groups(prefix=prefix, contains=contains, after=after, limit=limit + 1)
    result: Result = {"logGroups": [group_shape(ctx, g) for g in groups[:limit]]}
    if len(groups) > limit:
        result["nextToken"] = encode_token([groups[limit - 1].name])
    return result


def put_retention_policy(ctx: ApiContext, params: Params) -> Result:
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(str(d) for d in RETENTION_DAYS)}]"
        )
    if not logs_store(ctx).set_retention(params["logGroupName"], days):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return {}


def delete_retention_policy(ctx: ApiContext, params: Params) -> Result:
    if not logs_store(ctx).set_retention(params["logGroupName"], None):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return {}


# --- streams ------------------------------------------------------------------------------


def create_log_stream(ctx: ApiContext, params: Params) -> Result:
    check_names(stream=params["logStreamName"])
    group = find_group(ctx, params)
    if not logs_store(ctx).create_stream(group.id, params["logStreamName"], now_ms(ctx)):
        raise ResourceAlreadyExistsException("The specified log stream already exists")
    return {}


def delete_log_stream(ctx: ApiContext, params: Params) -> Result:
    group = find_group(ctx, params)
    if not logs_store(ctx).delete_stream(group.id, params["logStreamName"]):
        raise ResourceNotFoundException("The specified log stream does not exist.")
    return {}


def stream_shape(ctx: ApiContext, group: Group, stream: Stream) -> dict[str, Any]:
    out: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.created,
        "arn": f"{group_arn(ctx, group.name)}:log-stream:{stream.name}",
        "storedBytes": stream.stored_bytes,
    }
    optional = {
        "firstEventTimestamp": stream.first_event,
        "lastEventTimestamp": stream.last_event,
        "lastIngestionTime": stream.last_ingestion,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return out


def describe_log_streams(ctx: ApiContext, params: Params) -> Result:
    group = find_group(ctx, params)
    by_last_event = params.get("orderBy", "LogStreamName") == "LastEventTime"
    prefix = params.get("logStreamNamePrefix", "")
    if by_last_event and prefix:
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit = _limit(params, DESCRIBE_LIMIT)
    token = params.get("nextToken")
    after = None
    if token:
        key = decode_token(token)
        if len(key) != 2 or not isinstance(key[0], int) or not isinstance(key[1], str):
            raise InvalidParameterException("The specified nextToken is invalid.")
        after = (key[0], key[1])
    streams = logs_store(ctx).streams(
        group.id,
        prefix=prefix,
        by_last_event=by_last_event,
        descending=bool(params.get("descending", False)),
        after=after,
        limit=limit + 1,
    )
    result: Result = {"logStreams": [stream_shape(ctx, group, s) for s in streams[:limit]]}
    if len(streams) > limit:
        last = streams[limit - 1]
        result["nextToken"] = encode_token(
            [last.last_event or 0 if by_last_event else 0, last.name]
        )
    return result


HANDLERS: dict[str, Handler] = {
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "DescribeLogGroups": describe_log_groups,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
    "CreateLogStream": create_log_stream,
    "DeleteLogStream": delete_log_stream,
    "DescribeLogStreams": describe_log_streams,
}
