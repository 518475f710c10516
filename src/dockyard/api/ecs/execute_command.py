"""ExecuteCommand: check that a command may run in a task's container, and hand out a
session (sessionId, streamUrl, one-time tokenValue) for the relay in api/exec.py.

On AWS the session is an SSM Session Manager data channel; here `streamUrl` is this
server's websocket `GET /dockyard/v1/exec/<sessionId>`, which relays to the agent of the
task's instance (wire/agent.py exec-* messages). Nothing is written: the grant travels
inside the token, HMAC-signed with a per-process key, valid `TOKEN_TTL_S` seconds and
redeemed once (`Redeemed`), so the server keeps no state for sessions never opened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shlex
import time
import uuid
from dataclasses import dataclass
from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.tasks import find_task
from dockyard.api.request_scope import BASE_URL
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import AwsError, InvalidParameterException
from dockyard.store import Kind

PATH_PREFIX = "/dockyard/v1/exec/"
TOKEN_TTL_S = 60.0
_KEY = secrets.token_bytes(32)  # per server process: a token opens a stream on its issuer

NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was "
    "run or the execute command agent isn\u2019t running. Wait and try again or run a new task "
    "with execute command enabled and try again."
)


class TargetNotConnectedException(AwsError):
    code = "TargetNotConnectedException"


@dataclass(frozen=True)
class Grant:
    """What a token allows: one command in one container of one task."""

    session_id: str
    task_arn: str
    instance_arn: str
    container: str
    command: list[str]
    expires: float


def _sign(body: bytes) -> str:
    return hmac.new(_KEY, body, hashlib.sha256).hexdigest()


def mint(grant: Grant) -> str:
    body = json.dumps(grant.__dict__, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _sign(body)


def read_token(token: str, session_id: str, now: float) -> Grant:
    """The grant a token carries, if it is ours, unexpired and for this session."""
    encoded, _, signature = token.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        body = b""
    if not body or not hmac.compare_digest(_sign(body), signature):
        raise AwsError("The session token is not valid.", code="InvalidSessionToken", status=403)
    grant = Grant(**json.loads(body))
    if grant.session_id != session_id:
        raise AwsError("The token is for another session.", code="InvalidSessionToken", status=403)
    if grant.expires < now:
        raise AwsError("The session token has expired.", code="ExpiredSessionToken", status=403)
    return grant


class Redeemed:
    """Session ids whose token was used (a token opens one stream), forgotten on expiry."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}

    def redeem(self, grant: Grant, now: float) -> None:
        self._used = {sid: exp for sid, exp in self._used.items() if exp >= now}
        if grant.session_id in self._used:
            raise AwsError(
                "The session token was already used.", code="InvalidSessionToken", status=403
            )
        self._used[grant.session_id] = grant.expires


def _container(task: dict[str, Any], name: str | None) -> dict[str, Any]:
    containers: list[dict[str, Any]] = task.get("containers", [])
    if name is None:
        if len(containers) != 1:
            raise InvalidParameterException(
                "The task has multiple containers: specify the container to run the command in."
            )
        return containers[0]
    for container in containers:
        if container.get("name") == name:
            return container
    raise InvalidParameterException(f"The container {name} was not found in the task.")


def _stream_url(session_id: str) -> str:
    base = BASE_URL.get() or "http://127.0.0.1"
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{PATH_PREFIX}{session_id}"


def execute_command(ctx: ApiContext, params: Params) -> Result:
    if not params["interactive"]:
        raise InvalidParameterException("Interactive is the only mode supported currently.")
    try:
        argv = shlex.split(params["command"])
    except ValueError as error:
        raise InvalidParameterException(f"The command cannot be parsed: {error}.") from None
    if not argv:
        raise InvalidParameterException("The command must not be empty.")
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        arn, task = find_task(ctx, cluster, params["task"], tx)
        if task is None:
            raise InvalidParameterException("The specified task was not found.")
        container = _container(task, params.get("container"))
        instance = tx.get(Kind.CONTAINER_INSTANCE, task.get("containerInstanceArn", ""))
    if not task.get("enableExecuteCommand"):
        raise InvalidParameterException(NOT_ENABLED)
    if task.get("lastStatus") != "RUNNING" or container.get("lastStatus") != "RUNNING":
        raise InvalidParameterException(
            f"The execute command failed because the container {container['name']} is not "
            f"RUNNING (task: {task.get('lastStatus')}, container: {container.get('lastStatus')})."
        )
    if instance is None or not instance.get("agentConnected"):
        raise TargetNotConnectedException(
            "The execute command cannot run: the agent of the task's container instance is "
            "not connected."
        )
    session_id = f"ecs-execute-command-{uuid.uuid4().hex[:17]}"
    grant = Grant(
        session_id=session_id,
        task_arn=arn,
        instance_arn=instance["containerInstanceArn"],
        container=container["name"],
        command=argv,
        expires=time.time() + TOKEN_TTL_S,
    )
    return {
        "clusterArn": cluster["clusterArn"],
        "containerArn": container.get("containerArn", ""),
        "containerName": container["name"],
        "interactive": True,
        "taskArn": arn,
        "session": {
            "sessionId": session_id,
            "streamUrl": _stream_url(session_id),
            "tokenValue": mint(grant),
        },
    }
