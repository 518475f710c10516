"""`GET /dockyard/v1/task-logs?cluster=&task=&container=&follow=&tail=`: a task's output.

Not an ECS action (ECS sends logs to CloudWatch Logs): Dockyard reads the
container's output through the agent of the task's instance and streams it as
text/plain. Signed with SigV4 like every API call when the server has
credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from dockyard.api.agent_channel import AgentHub
from dockyard.api.app import authenticate
from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.tasks import find_task
from dockyard.api.json_protocol import json_error
from dockyard.context import ApiContext
from dockyard.errors import AwsError, InvalidParameterException
from dockyard.store.offload import off_loop

PATH = "/dockyard/v1/task-logs"


def _find(
    ctx: ApiContext, cluster_ref: str | None, task_ref: str
) -> tuple[str, dict[str, Any] | None]:
    """The task's ARN and document (None: not found); off the loop on a blocking store."""
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, cluster_ref)
        return find_task(ctx, cluster, task_ref, tx)


def make_handler(
    ctx: ApiContext, hub: AgentHub, credentials: Mapping[str, str] | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            authenticate(request, b"", credentials)
            query = request.query
            if not query.get("task"):
                raise InvalidParameterException("task is required.")
            arn, task = await off_loop(ctx.store, _find, ctx, query.get("cluster"), query["task"])
            if task is None:
                raise InvalidParameterException("The referenced task was not found.")
            container = query.get("container")
            names = [c["name"] for c in task["containers"]]
            if container is not None and container not in names:
                raise InvalidParameterException(
                    f"Task has no container '{container}'; it has {', '.join(names)}."
                )
            if container is None and len(names) > 1:
                raise InvalidParameterException(
                    f"The task has several containers ({', '.join(names)}): choose one."
                )
            tail = int(query["tail"]) if query.get("tail", "").isdigit() else None
            stream = hub.stream_logs(
                task["containerInstanceArn"],
                arn,
                container or names[0],
                query.get("follow") in {"1", "true"},
                tail,
            )
            first = await anext(stream, None)
        except AwsError as error:
            return json_error(error)
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        if first is not None:
            await response.write(first.encode())
            async for chunk in stream:
                await response.write(chunk.encode())
        await response.write_eof()
        return response

    return handle
