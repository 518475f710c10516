"""The console's buttons: each one API action, exactly what the aws CLI would send.

scale         ecs update-service --desired-count N
deploy        ecs update-service --force-new-deployment
revision      ecs update-service --task-definition family:rev
stop          ecs stop-task --reason ...
drain         ecs update-container-instances-state --status DRAINING|ACTIVE

A refused action (validation, a missing service) comes back as the page with the
AWS error's code and message; the CSRF check happened before (app.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard.console.context import back, console
from dockyard.errors import AwsError
from dockyard.store.offload import off_loop

STOP_REASON = "Task stopped from the Dockyard console"


def _action(
    run: Callable[[web.Request, dict[str, str]], tuple[str, str]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Run one API action for a form; redirect back with its outcome."""

    async def handle(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        page = form.get("back") or ""
        try:
            page_path, message = await off_loop(console(request).api.ctx.store, run, request, form)
        except AwsError as error:
            raise back(_local(page), err=f"{error.code}: {error.message}") from None
        raise back(_local(page) if page else page_path, msg=message)

    return handle


def _local(path: str) -> str:
    """A `back` target must stay inside the console."""
    return path if path.startswith("/") and not path.startswith("//") else "/"


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AwsError(
            f"desiredCount must be a whole number; got {text!r}.",
            code="InvalidParameterException",
        ) from None


def _scale(request: web.Request, form: dict[str, str]) -> tuple[str, str]:
    cluster, service = request.match_info["cluster"], request.match_info["service"]
    count = _count(form.get("desiredCount", ""))
    console(request).api.ecs("UpdateService", cluster=cluster, service=service, desiredCount=count)
    return f"/clusters/{cluster}/services/{service}", f"{service}: desired count set to {count}."


def _deploy(request: web.Request, _form: dict[str, str]) -> tuple[str, str]:
    cluster, service = request.match_info["cluster"], request.match_info["service"]
    console(request).api.ecs(
        "UpdateService", cluster=cluster, service=service, forceNewDeployment=True
    )
    return f"/clusters/{cluster}/services/{service}", f"{service}: new deployment started."


def _revision(request: web.Request, form: dict[str, str]) -> tuple[str, str]:
    cluster, service = request.match_info["cluster"], request.match_info["service"]
    revision = form.get("taskDefinition", "")
    console(request).api.ecs(
        "UpdateService", cluster=cluster, service=service, taskDefinition=revision
    )
    return f"/clusters/{cluster}/services/{service}", f"{service}: deploying {revision}."


def _stop(request: web.Request, _form: dict[str, str]) -> tuple[str, str]:
    cluster, task = request.match_info["cluster"], request.match_info["task"]
    console(request).api.ecs("StopTask", cluster=cluster, task=task, reason=STOP_REASON)
    return f"/clusters/{cluster}/tasks/{task}", f"Task {task} is stopping."


def _drain(request: web.Request, form: dict[str, str]) -> tuple[str, str]:
    cluster, instance = request.match_info["cluster"], request.match_info["instance"]
    status = "ACTIVE" if form.get("status") == "ACTIVE" else "DRAINING"
    answer = console(request).api.ecs(
        "UpdateContainerInstancesState",
        cluster=cluster,
        containerInstances=[instance],
        status=status,
    )
    for failure in answer.get("failures", []):
        raise AwsError(
            f"{failure.get('reason', '')} {failure.get('detail', '')}".strip(),
            code="InvalidParameterException",
        )
    return f"/clusters/{cluster}", f"Instance {instance} is {status}."


scale = _action(_scale)
deploy = _action(_deploy)
revision = _action(_revision)
stop = _action(_stop)
drain = _action(_drain)
