"""The agent-side ECS calls, for an external agent or scheduler that reports through the
public API: SubmitTaskStateChange, SubmitContainerStateChange,
SubmitAttachmentStateChanges, DiscoverPollEndpoint.

A submitted state change is turned into the report Dockyard's own agent sends over its
websocket and applied by the same code (`tasks.reports.apply_reports`): statuses only
move forward, capacity is released once at STOPPED, dynamic host ports are recorded,
the service controller is told (`ctx.tasks_changed`) and the agent hub re-reads the
task (`ctx.desired_changed`), so a task reported STOPPED leaves its host's desired set.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.clusters import cluster_name, resolve_cluster
from dockyard.api.ecs.tasks import find_task
from dockyard.api.request_scope import BASE_URL
from dockyard.arns import parse_arn, resource_id
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException
from dockyard.lifecycle import TaskStatus
from dockyard.store import Kind, Tx
from dockyard.tasks.awsvpc import attachment_task_id
from dockyard.tasks.reports import apply_reports

ACK = "ACK"
STATUSES = ", ".join(s.name for s in TaskStatus)
MAX_PORT = 65535


def _status(value: str, what: str) -> str:
    if value not in TaskStatus.__members__:
        raise InvalidParameterException(
            f"Invalid {what} status '{value}': expected one of {STATUSES}."
        )
    return value


def _bindings(bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Network bindings as the agent reports them (checked: ports and protocols)."""
    for binding in bindings:
        for field in ("containerPort", "hostPort"):
            port = binding.get(field)
            if port is not None and not 0 <= port <= MAX_PORT:
                raise InvalidParameterException(
                    f"Invalid network binding: {field} {port} is not between 0 and 65535."
                )
        if binding.get("protocol", "tcp") not in {"tcp", "udp"}:
            raise InvalidParameterException(
                f"Invalid network binding protocol '{binding.get('protocol')}': tcp or udp."
            )
    return bindings


def _container_report(task: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """One container's change in the shape of an agent report's `containers` entry."""
    name = change.get("containerName")
    names = {c["name"] for c in task["containers"]}
    if name not in names:
        raise InvalidParameterException(
            f"The container '{name}' is not a container of the task {task['taskArn']}."
        )
    report: dict[str, Any] = {"name": name}
    if "status" in change:
        report["lastStatus"] = _status(change["status"], "container")
    if "networkBindings" in change:
        report["networkBindings"] = _bindings(change["networkBindings"])
    for field in ("runtimeId", "exitCode", "reason"):
        if field in change:
            report[field] = change[field]
    return report


def _apply(ctx: ApiContext, params: Params, build: Any) -> Result:
    """Find the task, build its report with `build(task)` and apply it; ACK."""
    if not params.get("task"):
        raise InvalidParameterException("task must be specified.")
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        arn, task = find_task(ctx, cluster, params["task"], tx)
        if task is None:
            raise InvalidParameterException("The referenced task was not found.")
        report = {"taskArn": arn, **build(task)}
        instance = task.get("containerInstanceArn") or ""
        moved = apply_reports(tx, [report], instance, ctx.now()) if instance else []
        attachments = params.get("attachments", [])
        if attachments:
            task = tx.get(Kind.TASK, arn) or task
            _set_attachments(ctx, task, {a["attachmentArn"]: a["status"] for a in attachments})
            tx.update(Kind.TASK, arn, task)
    if moved:
        ctx.desired_changed({instance}, [arn])
        ctx.tasks_changed({(t.get("clusterArn", ""), t.get("group")) for t in moved})
    return {"acknowledgment": ACK}


def submit_task_state_change(ctx: ApiContext, params: Params) -> Result:
    def build(task: dict[str, Any]) -> dict[str, Any]:
        report: dict[str, Any] = {}
        if "status" in params:
            report["lastStatus"] = _status(params["status"], "task")
        if params.get("reason"):
            report["reason"] = params["reason"]
        for field in ("pullStartedAt", "pullStoppedAt", "executionStoppedAt"):
            if field in params:
                report[field] = params[field]
        containers = [_container_report(task, c) for c in params.get("containers", [])]
        if containers:
            report["containers"] = containers
        return report

    return _apply(ctx, params, build)


def submit_container_state_change(ctx: ApiContext, params: Params) -> Result:
    if not params.get("containerName"):
        raise InvalidParameterException("containerName must be specified.")
    return _apply(ctx, params, lambda task: {"containers": [_container_report(task, params)]})


def _set_attachments(ctx: ApiContext, task: dict[str, Any], wanted: dict[str, str]) -> None:
    """Record attachment statuses on the task; each must be one of its attachments."""
    for attachment in task.get("attachments", []):
        key = _attachment_arn(ctx, attachment)
        if key in wanted:
            attachment["status"] = wanted.pop(key)
    if wanted:
        raise InvalidParameterException(
            f"Attachment not found on the task {task['taskArn']}: {', '.join(sorted(wanted))}."
        )


def submit_attachment_state_changes(ctx: ApiContext, params: Params) -> Result:
    changes = params["attachments"]
    if not changes:
        raise InvalidParameterException("attachments must list at least one attachment.")
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        wanted = {c["attachmentArn"]: c["status"] for c in changes}
        tasks: dict[str, dict[str, Any]] = {}  # one read per task, however many ARNs
        for attachment in wanted:
            task = _attachment_task(ctx, tx, cluster, attachment)
            if task is not None:
                tasks.setdefault(task["taskArn"], task)
        for task in tasks.values():
            mine = {_attachment_arn(ctx, a) for a in task.get("attachments", [])} & set(wanted)
            if mine:
                _set_attachments(ctx, task, {arn: wanted.pop(arn) for arn in mine})
                tx.update(Kind.TASK, task["taskArn"], task)
        if wanted:
            raise InvalidParameterException(
                f"Attachment not found in cluster {cluster['clusterName']}: "
                f"{', '.join(sorted(wanted))}."
            )
    return {"acknowledgment": ACK}


def _attachment_task(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], attachment_arn: str
) -> dict[str, Any] | None:
    """The live task of this cluster an attachment ARN names: an ENI attachment's id is
    its task's id (`tasks.awsvpc.precreated_attachment`), so one lookup, no scan."""
    arn = parse_arn(attachment_arn)
    task_id = attachment_task_id(resource_id(arn)) if arn is not None else None
    if arn is None or arn.resource_type != "attachment" or task_id is None:
        return None
    _, task = find_task(ctx, cluster, task_id, tx)
    return task if task is not None and task["lastStatus"] != "STOPPED" else None


def _attachment_arn(ctx: ApiContext, attachment: dict[str, Any]) -> str:
    """ECS names an attachment arn:...:attachment/<id> (the task shows only its id)."""
    return ctx.identity.ecs(f"attachment/{attachment.get('id')}")


def discover_poll_endpoint(ctx: ApiContext, params: Params) -> Result:
    """Where an agent reaches the control plane: this server, as the caller reached it
    (Dockyard's agents connect to <endpoint>agent/ws, which also carries telemetry)."""
    if params.get("cluster"):
        cluster_name(params["cluster"])  # a malformed cluster ARN is refused
    ref = params.get("containerInstance")
    if ref:
        arn = parse_arn(ref)
        if arn is not None and (arn.service != "ecs" or arn.resource_type != "container-instance"):
            raise InvalidParameterException(f"'{ref}' is not a container instance ARN.")
    endpoint = (BASE_URL.get() or f"http://{ctx.identity.region}.dockyard.invalid") + "/"
    return {
        "endpoint": endpoint,
        "telemetryEndpoint": endpoint,
        "serviceConnectEndpoint": endpoint,
    }
