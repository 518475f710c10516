"""`dockyard task ...`: run, list, describe, stop tasks, and read their logs."""

from __future__ import annotations

import sys
import urllib.error
import urllib.parse
from typing import Any

import click

from dockyard.cli.client import (
    ApiGroup,
    UnreachableError,
    client,
    describe_all,
    paginate,
    settings,
    signed_get,
)
from dockyard.cli.exec import task_exec
from dockyard.cli.output import details, emit, print_json, report_failures, short_id, show, table
from dockyard.cli.resources import cluster_option


@click.group(cls=ApiGroup)
def task() -> None:
    """Run, list, describe and stop tasks; read their logs."""


def _binding_text(task_doc: dict[str, Any]) -> str:
    parts = []
    for container in task_doc.get("containers", []):
        for b in container.get("networkBindings", []):
            parts.append(
                f"{b.get('bindIP')}:{b.get('hostPort')}->{b.get('containerPort')}/{b.get('protocol')}"
            )
    return ", ".join(parts) or "-"


def _rows(tasks: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            short_id(t["taskArn"]),
            t["taskDefinitionArn"].rsplit("/", 1)[-1],
            t.get("lastStatus"),
            t.get("desiredStatus"),
            t.get("healthStatus"),
            short_id(t.get("containerInstanceArn", "")),
            _binding_text(t),
            t.get("stoppedReason"),
        ]
        for t in tasks
    ]


COLUMNS = ["task", "definition", "last", "desired", "health", "instance", "ports", "stopped reason"]


@task.command("run")
@cluster_option()
@click.argument("task_definition")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 10))
@click.option("--group", help="Task group (default family:<family>).")
@click.option("--started-by")
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Placement strategy TYPE[:FIELD], e.g. binpack:memory, spread:instanceId, random.",
)
@click.option(
    "--constraint", "constraints", multiple=True, help="distinctInstance, or memberOf:EXPRESSION."
)
@click.option("--enable-execute-command", is_flag=True, help="Allow `dockyard task exec`.")
@click.pass_context
def task_run(
    ctx: click.Context,
    cluster: str,
    task_definition: str,
    count: int,
    group: str | None,
    started_by: str | None,
    strategies: tuple[str, ...],
    constraints: tuple[str, ...],
    enable_execute_command: bool,
) -> None:
    """Run COUNT tasks of TASK_DEFINITION (family, family:revision or ARN)."""
    params: dict[str, Any] = {"cluster": cluster, "taskDefinition": task_definition, "count": count}
    if enable_execute_command:
        params["enableExecuteCommand"] = True
    if group:
        params["group"] = group
    if started_by:
        params["startedBy"] = started_by
    if strategies:
        params["placementStrategy"] = [
            {"type": s.split(":", 1)[0], **({"field": s.split(":", 1)[1]} if ":" in s else {})}
            for s in strategies
        ]
    if constraints:
        params["placementConstraints"] = [
            {"type": "memberOf", "expression": c.split(":", 1)[1]}
            if c.startswith("memberOf:")
            else {"type": c}
            for c in constraints
        ]
    response = client(ctx).run_task(**params)

    def render() -> None:
        if response["tasks"]:
            show(table(COLUMNS, _rows(response["tasks"])))
        report_failures(response.get("failures", []))

    emit(ctx, response, render)
    if not response["tasks"]:
        sys.exit(1)


@task.command("ls")
@cluster_option()
@click.option("--family")
@click.option("--service", "service_name")
@click.option("--instance", "container_instance")
@click.option(
    "--desired-status",
    type=click.Choice(["RUNNING", "PENDING", "STOPPED"]),
    default="RUNNING",
    show_default=True,
)
@click.pass_context
def task_ls(
    ctx: click.Context,
    cluster: str,
    family: str | None,
    service_name: str | None,
    container_instance: str | None,
    desired_status: str,
) -> None:
    """List tasks with their status and host ports."""
    api = client(ctx)
    params: dict[str, Any] = {"cluster": cluster, "desiredStatus": desired_status}
    for key, value in (
        ("family", family),
        ("serviceName", service_name),
        ("containerInstance", container_instance),
    ):
        if value:
            params[key] = value
    arns = paginate(api, "list_tasks", "taskArns", **params)
    if settings(ctx).json:
        print_json({"taskArns": arns})
        return
    described = describe_all(
        api, "describe_tasks", "tasks", arns, name_param="tasks", cluster=cluster
    )
    show(table(COLUMNS, _rows(described["tasks"]), title=f"{len(arns)} task(s) in {cluster}"))


@task.command("describe")
@cluster_option()
@click.argument("tasks", nargs=-1, required=True)
@click.pass_context
def task_describe(ctx: click.Context, cluster: str, tasks: tuple[str, ...]) -> None:
    """Show tasks (by id or ARN) with their containers."""
    described = describe_all(
        client(ctx),
        "describe_tasks",
        "tasks",
        tasks,
        name_param="tasks",
        cluster=cluster,
        include=["TAGS"],
    )

    def render() -> None:
        views = []
        for t in described["tasks"]:
            views.append(
                details(
                    [
                        (k, t.get(k))
                        for k in (
                            "taskArn",
                            "taskDefinitionArn",
                            "lastStatus",
                            "desiredStatus",
                            "healthStatus",
                            "containerInstanceArn",
                            "group",
                            "startedBy",
                            "createdAt",
                            "startedAt",
                            "stoppedAt",
                            "stopCode",
                            "stoppedReason",
                        )
                    ],
                    skip_empty=True,
                )
            )
            views.append(
                table(
                    ["container", "status", "exit", "health", "ports", "reason"],
                    [
                        [
                            c["name"],
                            c.get("lastStatus"),
                            c.get("exitCode"),
                            c.get("healthStatus"),
                            _binding_text({"containers": [c]}),
                            c.get("reason"),
                        ]
                        for c in t["containers"]
                    ],
                )
            )
        show(*views)
        report_failures(described.get("failures", []))

    emit(ctx, described, render)
    if described.get("failures"):
        sys.exit(1)


@task.command("stop")
@cluster_option()
@click.argument("tasks", nargs=-1, required=True)
@click.option("--reason", default=None)
@click.pass_context
def task_stop(ctx: click.Context, cluster: str, tasks: tuple[str, ...], reason: str | None) -> None:
    """Stop tasks (SIGTERM, then SIGKILL after each container's stopTimeout)."""
    api = client(ctx)
    stopped = []
    for arn in tasks:
        params: dict[str, Any] = {"cluster": cluster, "task": arn}
        if reason:
            params["reason"] = reason
        stopped.append(api.stop_task(**params)["task"])
    emit(ctx, {"tasks": stopped}, lambda: show(table(COLUMNS, _rows(stopped))))


@task.command("logs")
@cluster_option()
@click.argument("task_ref", metavar="TASK")
@click.option("--container", help="Container name (needed when the task has several).")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming until the container exits.")
@click.option("--tail", type=int, help="Only the last N lines.")
@click.pass_context
def task_logs(
    ctx: click.Context,
    cluster: str,
    task_ref: str,
    container: str | None,
    follow: bool,
    tail: int | None,
) -> None:
    """Print a task's container output (read through its agent)."""
    conf = settings(ctx)
    query: dict[str, str] = {"cluster": cluster, "task": task_ref}
    if container:
        query["container"] = container
    if follow:
        query["follow"] = "1"
    if tail is not None:
        query["tail"] = str(tail)
    url = f"{conf.endpoint.rstrip('/')}/dockyard/v1/task-logs?{urllib.parse.urlencode(query)}"
    timeout = None if follow else 60
    with signed_get(conf.endpoint, url, conf.region, timeout=timeout) as answer:
        try:
            while chunk := answer.read1(65536):
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
        except urllib.error.URLError as error:
            raise UnreachableError(conf.endpoint, str(error.reason)) from None


task.add_command(task_exec)  # dockyard task exec (cli/exec.py)
