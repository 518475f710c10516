"""Friendly commands over the ECS API: `dockyard cluster|taskdef|instance ...`.

Each group is an `ApiGroup` (cli/client.py), so API errors exit 1, bad input 2
and an unreachable server 3. Tables by default; `--output json` prints what the
API returned. To add a group (task, service): make it `cls=ApiGroup`, call the
API through `client(ctx)`, list with `paginate()`, describe with
`describe_all()` + `report_failures()`, print with `emit()` / `table()` /
`details()` / `show()`, and append it to COMMANDS.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from dockyard.cli.client import ApiGroup, InputError, client, describe_all, paginate, settings
from dockyard.cli.output import (
    details,
    emit,
    fmt,
    message,
    print_json,
    report_failures,
    resource_value,
    short_id,
    show,
    table,
    tags_text,
)

DEFAULT_CLUSTER = "default"

F = TypeVar("F", bound=Callable[..., Any])


# --- shared option helpers ---------------------------------------------------------------


def parse_tags(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> list[dict[str, str]]:
    """click callback: repeated `--tag key=value` -> ECS tags."""
    tags = []
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not key=value")
        tags.append({"key": key, "value": tag_value})
    return tags


def cluster_option(required: bool = False) -> Callable[[F], F]:
    """`--cluster NAME` (defaults to "default" as in ECS)."""
    return click.option(
        "--cluster",
        "-c",
        default=None if required else DEFAULT_CLUSTER,
        required=required,
        show_default=not required,
        help="Cluster name or ARN.",
    )


# --- cluster -------------------------------------------------------------------------------


@click.group(cls=ApiGroup)
def cluster() -> None:
    """Create, list, describe and delete clusters."""


@cluster.command("create")
@click.argument("name")
@click.option(
    "--tag", "tags", multiple=True, callback=parse_tags, metavar="KEY=VALUE", help="Repeatable."
)
@click.pass_context
def cluster_create(ctx: click.Context, name: str, tags: list[dict[str, str]]) -> None:
    """Create cluster NAME (creating an existing cluster returns it unchanged, as in ECS)."""
    params: dict[str, Any] = {"clusterName": name}
    if tags:
        params["tags"] = tags
    response = client(ctx).create_cluster(**params)
    created = response["cluster"]
    emit(
        ctx, response, lambda: message(f"Cluster {created['clusterName']}: {created['clusterArn']}")
    )


def _cluster_rows(clusters: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [
        [
            item.get("clusterName"),
            item.get("status"),
            item.get("registeredContainerInstancesCount", 0),
            item.get("runningTasksCount", 0),
            item.get("pendingTasksCount", 0),
            item.get("activeServicesCount", 0),
        ]
        for item in clusters
    ]


CLUSTER_COLUMNS = ["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING", "SERVICES"]
CLUSTER_COUNTS = CLUSTER_COLUMNS[2:]


@cluster.command("ls")
@click.pass_context
def cluster_ls(ctx: click.Context) -> None:
    """List clusters with their instance, task and service counts."""
    api = client(ctx)
    arns = paginate(api, "list_clusters", "clusterArns")
    if settings(ctx).json:
        print_json({"clusterArns": arns})
        return
    described = describe_all(api, "describe_clusters", "clusters", arns, name_param="clusters")
    show(table(CLUSTER_COLUMNS, _cluster_rows(described["clusters"]), numeric=CLUSTER_COUNTS))


@cluster.command("describe")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def cluster_describe(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Show clusters NAMES... in detail (exit 1 if any is missing)."""
    described = describe_all(
        client(ctx),
        "describe_clusters",
        "clusters",
        names,
        name_param="clusters",
        include=["STATISTICS", "SETTINGS", "TAGS"],
    )

    def render() -> None:
        views = []
        for item in described["clusters"]:
            pairs: list[tuple[str, Any]] = [
                ("ARN", item.get("clusterArn")),
                ("Status", item.get("status")),
                ("Container instances", item.get("registeredContainerInstancesCount", 0)),
                ("Running tasks", item.get("runningTasksCount", 0)),
                ("Pending tasks", item.get("pendingTasksCount", 0)),
                ("Active services", item.get("activeServicesCount", 0)),
            ]
            pairs += [
                (f"Setting {s.get('name')}", s.get("value")) for s in item.get("settings", [])
            ]
            pairs.append(("Tags", tags_text(item.get("tags"))))
            if item.get("capacityProviders"):
                pairs.append(("Capacity providers", ", ".join(item["capacityProviders"])))
            views.append(details(pairs, title=item.get("clusterName")))
        show(*views)

    emit(ctx, described, render)
    report_failures(described["failures"])


@cluster.command("rm")
@click.argument("name")
@click.pass_context
def cluster_rm(ctx: click.Context, name: str) -> None:
    """Delete cluster NAME (it must have no container instances or active services)."""
    response = client(ctx).delete_cluster(cluster=name)
    emit(ctx, response, lambda: message(f"Deleted cluster {response['cluster']['clusterName']}"))


# --- taskdef -------------------------------------------------------------------------------

# Fields describe-task-definition returns that register-task-definition refuses.
READ_ONLY_TASK_DEFINITION_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    }
)


def load_json_file(source: str) -> Any:
    """Read JSON from a path, `file://path` (as the aws CLI takes it) or `-` (stdin)."""
    if source.startswith("file://"):
        source = source[len("file://") :]
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8-sig")
    except OSError as error:
        raise InputError(f"cannot read {source}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{source} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None


def register_task_definition_input(
    document: Any, accepted: Collection[str], read_only: Collection[str] = ()
) -> dict[str, Any]:
    """RegisterTaskDefinition parameters from a `--cli-input-json` file or describe output.

    Accepts `{"family": ..., "containerDefinitions": [...]}`, a bare
    `taskDefinition` object from describe-task-definition, or the whole describe
    output (`{"taskDefinition": {...}, "tags": [...]}`). Read-only fields are
    dropped; any other unknown field is an error rather than silently ignored.
    """
    if not isinstance(document, dict):
        raise InputError("a task definition file must hold a JSON object")
    tags = None
    if isinstance(document.get("taskDefinition"), dict) and "containerDefinitions" not in document:
        tags = document.get("tags")
        document = document["taskDefinition"]
    drop = READ_ONLY_TASK_DEFINITION_FIELDS | set(read_only) | {"ResponseMetadata"}
    params = {
        key: value for key, value in document.items() if key not in drop and value is not None
    }
    unknown = sorted(key for key in params if key not in accepted)
    if unknown:
        raise InputError(
            f"unknown task definition field(s): {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(accepted))}"
        )
    if tags and "tags" not in params:
        params["tags"] = tags
    for required in ("family", "containerDefinitions"):
        if required not in params:
            raise InputError(f"the task definition has no {required!r}")
    return params


def _register_shapes(api: Any) -> tuple[set[str], set[str]]:
    """(RegisterTaskDefinition input fields, TaskDefinition fields not accepted as input)."""
    model = api.meta.service_model
    accepted = set(model.operation_model("RegisterTaskDefinition").input_shape.members)
    described = set(model.shape_for("TaskDefinition").members)
    return accepted, described - accepted


def task_definition_name(arn: str) -> str:
    """`family:revision` from a task definition ARN."""
    return short_id(arn)


@click.group(cls=ApiGroup)
def taskdef() -> None:
    """Register, list, describe and deregister task definitions."""


@taskdef.command("register")
@click.argument("file", metavar="FILE.json")
@click.pass_context
def taskdef_register(ctx: click.Context, file: str) -> None:
    """Register a task definition from FILE.json (`-` reads stdin).

    Takes the JSON of `aws ecs register-task-definition --cli-input-json` or the
    output of `aws ecs describe-task-definition`; prints family:revision.
    """
    document = load_json_file(file)
    api = client(ctx)
    accepted, read_only = _register_shapes(api)
    params = register_task_definition_input(document, accepted, read_only)
    response = api.register_task_definition(**params)
    registered = response["taskDefinition"]
    emit(ctx, response, lambda: message(f"{registered['family']}:{registered['revision']}"))


STATUS_CHOICE = click.Choice(["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"], case_sensitive=False)


@taskdef.command("ls")
@click.option("--family", help="Only revisions of this family.")
@click.option("--status", type=STATUS_CHOICE, help="Only this status (ECS default: ACTIVE).")
@click.option("--desc", is_flag=True, help="Newest first.")
@click.pass_context
def taskdef_ls(ctx: click.Context, family: str | None, status: str | None, desc: bool) -> None:
    """List task definition revisions."""
    params: dict[str, Any] = {"sort": "DESC" if desc else "ASC"}
    if family:
        params["familyPrefix"] = family
    if status:
        params["status"] = status.upper()
    arns = paginate(client(ctx), "list_task_definitions", "taskDefinitionArns", **params)

    def render() -> None:
        rows = []
        for arn in arns:
            name, _, revision = task_definition_name(arn).rpartition(":")
            rows.append([name, revision, arn])
        show(table(["FAMILY", "REVISION", "ARN"], rows, numeric=["REVISION"]))

    emit(ctx, {"taskDefinitionArns": arns}, render)


@taskdef.command("families")
@click.option("--prefix", help="Only families starting with this.")
@click.option(
    "--status",
    type=click.Choice(["ACTIVE", "INACTIVE", "ALL"], case_sensitive=False),
    help="ECS default: ACTIVE.",
)
@click.pass_context
def taskdef_families(ctx: click.Context, prefix: str | None, status: str | None) -> None:
    """List task definition families."""
    params: dict[str, Any] = {}
    if prefix:
        params["familyPrefix"] = prefix
    if status:
        params["status"] = status.upper()
    families = paginate(client(ctx), "list_task_definition_families", "families", **params)
    emit(ctx, {"families": families}, lambda: show(table(["FAMILY"], [[f] for f in families])))


def format_port(mapping: Mapping[str, Any]) -> str:
    """`8080/tcp` (dynamic host port) or `80:8080/tcp` (fixed), as in `docker run -p`."""
    protocol = mapping.get("protocol", "tcp")
    container = mapping.get("containerPort") or mapping.get("containerPortRange", "?")
    host = mapping.get("hostPort") or mapping.get("hostPortRange")
    return f"{host}:{container}/{protocol}" if host else f"{container}/{protocol}"


def format_memory(container: Mapping[str, Any]) -> str:
    """Hard limit, soft reservation or both, in MiB."""
    hard, soft = container.get("memory"), container.get("memoryReservation")
    if hard and soft:
        return f"{hard} (reserve {soft})"
    if soft:
        return f"reserve {soft}"
    return fmt(hard)


@taskdef.command("describe")
@click.argument("ref", metavar="FAMILY[:REV]")
@click.pass_context
def taskdef_describe(ctx: click.Context, ref: str) -> None:
    """Show a task definition (latest ACTIVE revision without :REV) and its containers."""
    response = client(ctx).describe_task_definition(taskDefinition=ref, include=["TAGS"])
    definition = response["taskDefinition"]

    def render() -> None:
        summary = details(
            [
                ("ARN", definition.get("taskDefinitionArn")),
                ("Status", definition.get("status")),
                ("Network mode", definition.get("networkMode")),
                ("Task CPU", definition.get("cpu")),
                ("Task memory", definition.get("memory")),
                ("Compatibilities", ", ".join(definition.get("requiresCompatibilities", []))),
                ("Task role", definition.get("taskRoleArn")),
                ("Execution role", definition.get("executionRoleArn")),
                ("Registered", definition.get("registeredAt")),
                ("Deregistered", definition.get("deregisteredAt")),
                ("Tags", tags_text(response.get("tags"))),
            ],
            title=f"{definition['family']}:{definition['revision']}",
            skip_empty=True,
        )
        containers = table(
            ["NAME", "IMAGE", "CPU", "MEMORY", "PORTS", "ESSENTIAL"],
            [
                [
                    container.get("name"),
                    container.get("image"),
                    container.get("cpu", 0),
                    format_memory(container),
                    ", ".join(format_port(p) for p in container.get("portMappings", [])),
                    container.get("essential", True),
                ]
                for container in definition.get("containerDefinitions", [])
            ],
            numeric=["CPU"],
        )
        show(summary, containers)

    emit(ctx, response, render)


@taskdef.command("deregister")
@click.argument("ref", metavar="FAMILY:REV")
@click.pass_context
def taskdef_deregister(ctx: click.Context, ref: str) -> None:
    """Deregister one task definition revision (it becomes INACTIVE)."""
    response = client(ctx).deregister_task_definition(taskDefinition=ref)
    definition = response["taskDefinition"]
    emit(
        ctx,
        response,
        lambda: message(
            f"Deregistered {definition['family']}:{definition['revision']} "
            f"({definition.get('status', 'INACTIVE')})"
        ),
    )


# --- instance ------------------------------------------------------------------------------


def free_of_total(instance: Mapping[str, Any], name: str) -> str:
    """`remaining/registered` for an INTEGER resource such as CPU or MEMORY."""
    remaining = resource_value(instance.get("remainingResources"), name)
    registered = resource_value(instance.get("registeredResources"), name)
    return f"{fmt(remaining)}/{fmt(registered)}"


@click.group(cls=ApiGroup)
def instance() -> None:
    """List and describe container instances (hosts running `dockyard agent`)."""


@instance.command("ls")
@cluster_option()
@click.option(
    "--status",
    type=click.Choice(
        ["ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"],
        case_sensitive=False,
    ),
    help="Only instances in this status.",
)
@click.pass_context
def instance_ls(ctx: click.Context, cluster: str, status: str | None) -> None:
    """List the container instances of a cluster with free/registered resources."""
    api = client(ctx)
    params: dict[str, Any] = {"cluster": cluster}
    if status:
        params["status"] = status.upper()
    arns = paginate(api, "list_container_instances", "containerInstanceArns", **params)
    if settings(ctx).json:
        print_json({"containerInstanceArns": arns})
        return
    described = describe_all(
        api,
        "describe_container_instances",
        "containerInstances",
        arns,
        name_param="containerInstances",
        cluster=cluster,
    )
    rows = [
        [
            short_id(item["containerInstanceArn"]),
            item.get("ec2InstanceId"),
            item.get("status"),
            item.get("agentConnected", False),
            free_of_total(item, "CPU"),
            free_of_total(item, "MEMORY"),
            item.get("runningTasksCount", 0),
            item.get("pendingTasksCount", 0),
        ]
        for item in described["containerInstances"]
    ]
    show(
        table(
            [
                "ID",
                "EC2 INSTANCE",
                "STATUS",
                "AGENT",
                "CPU FREE/TOTAL",
                "MEMORY FREE/TOTAL",
                "RUNNING",
                "PENDING",
            ],
            rows,
            title=f"Cluster {short_id(cluster)}",
            numeric=["CPU FREE/TOTAL", "MEMORY FREE/TOTAL", "RUNNING", "PENDING"],
        )
    )
    report_failures(described["failures"])


@instance.command("describe")
@cluster_option()
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.pass_context
def instance_describe(ctx: click.Context, cluster: str, ids: tuple[str, ...]) -> None:
    """Show container instances (by id or ARN) in detail (exit 1 if any is missing)."""
    described = describe_all(
        client(ctx),
        "describe_container_instances",
        "containerInstances",
        ids,
        name_param="containerInstances",
        cluster=cluster,
        include=["TAGS"],
    )

    def render() -> None:
        views = []
        for item in described["containerInstances"]:
            version = item.get("versionInfo") or {}
            ports = resource_value(item.get("remainingResources"), "PORTS") or []
            attributes = ", ".join(
                f"{a['name']}={a['value']}" if a.get("value") is not None else a["name"]
                for a in item.get("attributes", [])
            )
            status = item.get("status")
            if item.get("statusReason"):
                status = f"{status} ({item['statusReason']})"
            pairs: list[tuple[str, Any]] = [
                ("ARN", item.get("containerInstanceArn")),
                ("EC2 instance", item.get("ec2InstanceId")),
                ("Status", status),
                ("Agent connected", item.get("agentConnected", False)),
                ("Agent update", item.get("agentUpdateStatus")),
                ("Agent version", version.get("agentVersion")),
                ("Docker version", version.get("dockerVersion")),
                ("CPU free/total", free_of_total(item, "CPU")),
                ("Memory free/total", free_of_total(item, "MEMORY")),
                ("Reserved ports", ", ".join(sorted(ports, key=_port_key))),
                ("Running tasks", item.get("runningTasksCount", 0)),
                ("Pending tasks", item.get("pendingTasksCount", 0)),
                ("Registered", item.get("registeredAt")),
                ("Attributes", attributes),
                ("Tags", tags_text(item.get("tags"))),
            ]
            views.append(details(pairs, title=short_id(item["containerInstanceArn"])))
        show(*views)

    emit(ctx, described, render)
    report_failures(described["failures"])


def _port_key(port: str) -> tuple[int, str]:
    return (int(port), port) if port.isdigit() else (sys.maxsize, port)


COMMANDS: list[click.Command] = [cluster, taskdef, instance]
