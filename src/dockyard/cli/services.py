"""`dockyard service ...`: create, list, describe, update, scale and delete services.

Same conventions as cli/resources.py: an `ApiGroup` (API errors exit 1, bad
input 2, an unreachable server 3), tables by default and the raw API JSON under
`--output json`.

`--wait` (create, update, scale) polls DescribeServices every 0.5 s until the
deployment is done: the primary deployment COMPLETED, running as many tasks as
it wants, and no other deployment left. It prints one progress line whenever
the counts change (and the service events that appear meanwhile), exits 1 when
the rollout FAILED (circuit breaker) or when `--timeout` passes first. Under
`--output json` the progress goes to stderr so stdout stays one JSON document.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from dockyard.cli import scaling as scaling_view
from dockyard.cli.client import (
    EXIT_API_ERROR,
    ApiError,
    ApiGroup,
    CliError,
    InputError,
    client,
    describe_all,
    paginate,
    settings,
)
from dockyard.cli.output import (
    details,
    emit,
    message,
    print_json,
    report_failures,
    short_id,
    show,
    table,
    tags_text,
)
from dockyard.cli.resources import cluster_option, load_json_file, parse_tags

F = TypeVar("F", bound=Callable[..., Any])

POLL_INTERVAL_S = 0.5
DEFAULT_TIMEOUT_S = 300.0
DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services
DESCRIBE_EVENTS = 10
STRATEGY_TYPES = ("binpack", "spread", "random")


class WaitError(CliError):
    """`--wait` gave up: the rollout failed, the service went away, or time ran out."""

    exit_code = EXIT_API_ERROR

    def __init__(self, text: str) -> None:
        super().__init__(f"Error: {text}")


# --- option parsing ------------------------------------------------------------------------


def parse_strategies(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> list[dict[str, str]]:
    """click callback: repeated `--strategy TYPE[:FIELD]` -> ECS placement strategies."""
    strategies = []
    for value in values:
        kind, sep, field = value.partition(":")
        if kind not in STRATEGY_TYPES:
            raise click.BadParameter(f"{value!r}: the type must be binpack, spread or random")
        if kind == "random":
            if sep:
                raise click.BadParameter(f"{value!r}: random takes no field")
            strategies.append({"type": "random"})
        elif not field:
            raise click.BadParameter(
                f"{value!r}: {kind} needs a field, e.g. binpack:memory or spread:instanceId"
            )
        else:
            strategies.append({"type": kind, "field": field})
    return strategies


def parse_constraints(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> list[dict[str, str]]:
    """click callback: `--constraint distinctInstance | memberOf:EXPRESSION` -> ECS constraints."""
    constraints = []
    for value in values:
        if value == "distinctInstance":
            constraints.append({"type": "distinctInstance"})
            continue
        kind, _, expression = value.partition(":")
        if kind != "memberOf" or not expression.strip():
            raise click.BadParameter(f"{value!r} is not distinctInstance or memberOf:EXPRESSION")
        constraints.append({"type": "memberOf", "expression": expression.strip()})
    return constraints


def deployment_options(f: F) -> F:
    """--max-percent, --min-healthy-percent, the circuit breaker, the grace period."""
    options = [
        click.option(
            "--max-percent",
            type=click.IntRange(min=0),
            help="maximumPercent: tasks allowed during a deployment (ECS default 200, DAEMON 100).",
        ),
        click.option(
            "--min-healthy-percent",
            type=click.IntRange(0, 100),
            help="minimumHealthyPercent to keep running (ECS default 100, DAEMON 0).",
        ),
        click.option(
            "--circuit-breaker/--no-circuit-breaker",
            "circuit_breaker",
            default=None,
            help="Fail the rollout when its tasks keep failing to start.",
        ),
        click.option(
            "--rollback/--no-rollback",
            "rollback",
            default=None,
            help="On a failed rollout go back to the last completed deployment "
            "(turns the circuit breaker on).",
        ),
        click.option(
            "--health-check-grace-period",
            "grace_period",
            type=click.IntRange(min=0),
            metavar="SECONDS",
            help="Ignore failing health checks of new tasks for this long.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def wait_options(f: F) -> F:
    f = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT_S,
        show_default=True,
        metavar="SECONDS",
        help="How long --wait waits.",
    )(f)
    return click.option(
        "--wait",
        is_flag=True,
        help="Wait until the deployment completes (exit 1 if it fails or times out).",
    )(f)


def deployment_configuration(
    max_percent: int | None,
    min_healthy_percent: int | None,
    circuit_breaker: bool | None,
    rollback: bool | None,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The deploymentConfiguration fields the options set (none given: {}).

    The circuit breaker is sent whole (ECS requires both flags), so a flag left out
    keeps its `current` value; `--rollback` alone turns the breaker on.
    """
    config: dict[str, Any] = {}
    if max_percent is not None:
        config["maximumPercent"] = max_percent
    if min_healthy_percent is not None:
        config["minimumHealthyPercent"] = min_healthy_percent
    if circuit_breaker is None and rollback is None:
        return config
    if circuit_breaker is False and rollback:
        raise InputError("--rollback needs the circuit breaker (drop --no-circuit-breaker)")
    before = current or {}
    if circuit_breaker is not None:
        enable = circuit_breaker
    else:
        enable = True if rollback else bool(before.get("enable"))
    if rollback is not None:
        roll_back = rollback
    else:
        roll_back = bool(before.get("rollback")) and enable
    config["deploymentCircuitBreaker"] = {"enable": enable, "rollback": roll_back}
    return config


# --- presentation --------------------------------------------------------------------------


def definition_name(arn: str | None) -> str | None:
    """`family:revision` of a task definition ARN."""
    return short_id(arn) if arn else None


def primary_deployment(service: Mapping[str, Any]) -> dict[str, Any] | None:
    for deployment in service.get("deployments", []):
        if deployment.get("status") == "PRIMARY":
            return dict(deployment)
    return None


def deployment_progress(deployment: Mapping[str, Any]) -> str:
    """`PRIMARY web:2 1/3 running, 2 pending, IN_PROGRESS` or `ACTIVE web:1 3 running, 0 pending`.

    Only the primary deployment wants tasks; older ones drain towards 0.
    """
    primary = deployment.get("status") == "PRIMARY"
    running = f"{deployment.get('runningCount', 0)}"
    if primary:
        running += f"/{deployment.get('desiredCount', 0)}"
    text = (
        f"{deployment.get('status')} {definition_name(deployment.get('taskDefinition'))} "
        f"{running} running, {deployment.get('pendingCount', 0)} pending"
    )
    if primary or deployment.get("rolloutState") == "FAILED":
        text += f", {deployment.get('rolloutState', '?')}"
    return text


def service_progress(service: Mapping[str, Any]) -> str:
    return " | ".join(deployment_progress(d) for d in service.get("deployments", [])) or "-"


def breaker_text(config: Mapping[str, Any]) -> str:
    breaker = config.get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable"):
        return "off"
    return "on, rollback" if breaker.get("rollback") else "on"


def strategy_text(strategies: Sequence[Mapping[str, Any]] | None) -> str:
    return ", ".join(
        f"{s.get('type')}:{s['field']}" if s.get("field") else str(s.get("type"))
        for s in strategies or []
    )


def constraint_text(constraints: Sequence[Mapping[str, Any]] | None) -> str:
    return ", ".join(
        f"{c.get('type')}:{c['expression']}" if c.get("expression") else str(c.get("type"))
        for c in constraints or []
    )


def load_balancer_text(load_balancers: Sequence[Mapping[str, Any]] | None) -> str:
    return ", ".join(
        f"{lb.get('containerName')}:{lb.get('containerPort')} -> "
        f"{lb.get('targetGroupArn') or lb.get('loadBalancerName')}"
        for lb in load_balancers or []
    )


def rollout_text(deployment: Mapping[str, Any]) -> str | None:
    state = deployment.get("rolloutState")
    if state == "FAILED" and deployment.get("rolloutStateReason"):
        return f"FAILED: {deployment['rolloutStateReason']}"
    return state


SERVICE_COLUMNS = ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "ROLLOUT"]
SERVICE_COUNTS = ["DESIRED", "RUNNING", "PENDING"]
DEPLOYMENT_COLUMNS = [
    "ID",
    "STATUS",
    "TASK DEFINITION",
    "DESIRED",
    "RUNNING",
    "PENDING",
    "FAILED",
    "ROLLOUT",
    "UPDATED",
]


def service_row(service: Mapping[str, Any]) -> list[Any]:
    primary = primary_deployment(service) or {}
    return [
        service.get("serviceName"),
        service.get("status"),
        service.get("desiredCount", 0),
        service.get("runningCount", 0),
        service.get("pendingCount", 0),
        definition_name(service.get("taskDefinition")),
        primary.get("rolloutState"),
    ]


def deployments_table(service: Mapping[str, Any]) -> Any:
    return table(
        DEPLOYMENT_COLUMNS,
        [
            [
                d.get("id"),
                d.get("status"),
                definition_name(d.get("taskDefinition")),
                d.get("desiredCount", 0),
                d.get("runningCount", 0),
                d.get("pendingCount", 0),
                d.get("failedTasks", 0),
                rollout_text(d),
                d.get("updatedAt"),
            ]
            for d in service.get("deployments", [])
        ],
        title="Deployments",
        numeric=["DESIRED", "RUNNING", "PENDING", "FAILED"],
    )


def events_table(events: Sequence[Mapping[str, Any]], title: str) -> Any:
    return table(
        ["TIME", "MESSAGE"], [[e.get("createdAt"), e.get("message")] for e in events], title=title
    )


def service_details(service: Mapping[str, Any]) -> Any:
    config = service.get("deploymentConfiguration") or {}
    grace = service.get("healthCheckGracePeriodSeconds")
    return details(
        [
            ("ARN", service.get("serviceArn")),
            ("Cluster", short_id(service.get("clusterArn", "")) or None),
            ("Status", service.get("status")),
            ("Task definition", definition_name(service.get("taskDefinition"))),
            ("Desired", service.get("desiredCount", 0)),
            ("Running", service.get("runningCount", 0)),
            ("Pending", service.get("pendingCount", 0)),
            ("Scheduling", service.get("schedulingStrategy")),
            ("Launch type", service.get("launchType")),
            ("Maximum percent", config.get("maximumPercent")),
            ("Minimum healthy percent", config.get("minimumHealthyPercent")),
            ("Circuit breaker", breaker_text(config)),
            ("Health check grace", f"{grace}s" if grace is not None else None),
            ("Placement strategy", strategy_text(service.get("placementStrategy"))),
            ("Placement constraints", constraint_text(service.get("placementConstraints"))),
            ("Load balancers", load_balancer_text(service.get("loadBalancers"))),
            ("Created", service.get("createdAt")),
            ("Created by", service.get("createdBy")),
            ("Tags", tags_text(service.get("tags"))),
        ],
        title=service.get("serviceName"),
        skip_empty=True,
    )


# --- API helpers ---------------------------------------------------------------------------


def describe_one(api: Any, cluster: str, name: str, **params: Any) -> dict[str, Any]:
    """One service by name or ARN; a MISSING failure is an API error (exit 1)."""
    answer = api.describe_services(cluster=cluster, services=[name], **params)
    for failure in answer.get("failures", []):
        detail = failure.get("detail")
        raise ApiError(
            str(failure.get("reason", "UNKNOWN")),
            f"service {failure.get('arn') or name}" + (f" ({detail})" if detail else ""),
        )
    services = answer.get("services", [])
    if not services:
        raise ApiError("MISSING", f"service {name}")
    return dict(services[0])


def rollout_failure(service: Mapping[str, Any], tracked: str) -> str | None:
    """Why waiting on deployment `tracked` cannot succeed any more, or None."""
    name = service.get("serviceName")
    if service.get("status") != "ACTIVE":
        return f"service {name} is {service.get('status')}"
    deployments = {d.get("id"): d for d in service.get("deployments", [])}
    primary = primary_deployment(service)
    mine = deployments.get(tracked)
    if mine is not None and mine.get("rolloutState") == "FAILED":
        text = f"deployment {tracked} of service {name} FAILED: " + str(
            mine.get("rolloutStateReason") or "no reason given"
        )
        if primary is not None and primary.get("id") != tracked:
            text += (
                f"; rolling back to {definition_name(primary.get('taskDefinition'))} "
                f"(deployment {primary.get('id')})"
            )
        return text
    if mine is None and primary is not None:
        return (
            f"deployment {tracked} of service {name} was replaced by deployment "
            f"{primary.get('id')} ({definition_name(primary.get('taskDefinition'))})"
        )
    return None


def is_stable(service: Mapping[str, Any]) -> bool:
    """The primary deployment COMPLETED, runs what it wants and is the only deployment."""
    deployments = service.get("deployments", [])
    primary = primary_deployment(service)
    return (
        service.get("status") == "ACTIVE"
        and len(deployments) == 1
        and primary is not None
        and primary.get("rolloutState") == "COMPLETED"
        and primary.get("runningCount") == primary.get("desiredCount")
    )


def wait_until_stable(
    ctx: click.Context,
    cluster: str,
    name: str,
    deployment_id: str,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll DescribeServices until `is_stable`; WaitError on failure or timeout."""
    api = client(ctx)
    to_stderr = settings(ctx).json
    started = time.monotonic()
    deadline = started + timeout
    last_line: str | None = None
    seen_events: set[str] | None = None
    while True:
        service = describe_one(api, cluster, name)
        elapsed = time.monotonic() - started
        events = service.get("events", [])
        if seen_events is None:
            seen_events = {str(e.get("id")) for e in events}
        for event in reversed(events):  # the API lists them newest first
            if str(event.get("id")) not in seen_events:
                seen_events.add(str(event.get("id")))
                click.echo(f"[{elapsed:6.1f}s]   event: {event.get('message')}", err=to_stderr)
        line = service_progress(service)
        if line != last_line:
            click.echo(f"[{elapsed:6.1f}s] {line}", err=to_stderr)
            last_line = line
        failure = rollout_failure(service, deployment_id)
        if failure:
            raise WaitError(failure)
        if is_stable(service):
            return service
        if time.monotonic() >= deadline:
            latest = f"; last event: {events[0].get('message')}" if events else ""
            raise WaitError(
                f"timed out after {timeout:g}s waiting for service {name} to be stable "
                f"({line}){latest}"
            )
        sleep(POLL_INTERVAL_S)


def finish_wait(
    ctx: click.Context, cluster: str, service: Mapping[str, Any], wait: bool, timeout: float
) -> None:
    """After create/update/scale: wait on the service's primary deployment if asked."""
    if not wait:
        return
    primary = primary_deployment(service)
    if primary is None:
        raise WaitError(f"service {service.get('serviceName')} has no primary deployment")
    stable = wait_until_stable(
        ctx, cluster, str(service["serviceName"]), str(primary["id"]), timeout
    )
    done = primary_deployment(stable) or {}
    click.echo(
        f"Service {stable.get('serviceName')} is stable: "
        f"{done.get('runningCount', 0)}/{done.get('desiredCount', 0)} tasks running "
        f"{definition_name(done.get('taskDefinition'))} (deployment {done.get('id')})",
        err=settings(ctx).json,
    )


def deployment_message(verb: str, service: Mapping[str, Any]) -> str:
    primary = primary_deployment(service) or {}
    return (
        f"{verb} service {service.get('serviceName')}: "
        f"{definition_name(primary.get('taskDefinition'))}, "
        f"desired {service.get('desiredCount', 0)} "
        f"(deployment {primary.get('id')}, {primary.get('rolloutState')})"
    )


# --- the group -----------------------------------------------------------------------------


@click.group(cls=ApiGroup)
def service() -> None:
    """Create, list, describe, update, scale and delete services."""


def create_service_input(document: Any, accepted: set[str]) -> dict[str, Any]:
    """CreateService parameters from an `aws ecs create-service --cli-input-json` file."""
    if not isinstance(document, dict):
        raise InputError("a service definition file must hold a JSON object")
    params = {key: value for key, value in document.items() if value is not None}
    unknown = sorted(key for key in params if key not in accepted)
    if unknown:
        raise InputError(
            f"unknown service field(s): {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(accepted))}"
        )
    return params


@service.command("create")
@cluster_option()
@click.argument("name", required=False)
@click.option("--task-definition", help="Family, family:revision or ARN.")
@click.option("--desired-count", type=click.IntRange(min=0), help="Tasks to keep running.")
@deployment_options
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    callback=parse_strategies,
    metavar="TYPE[:FIELD]",
    help="Placement strategy, e.g. binpack:memory, spread:instanceId, random. Repeatable.",
)
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    callback=parse_constraints,
    metavar="distinctInstance|memberOf:EXPR",
    help="Placement constraint. Repeatable.",
)
@click.option("--daemon", is_flag=True, help="One task on every instance (DAEMON scheduling).")
@click.option(
    "--tag", "tags", multiple=True, callback=parse_tags, metavar="KEY=VALUE", help="Repeatable."
)
@click.option(
    "--input",
    "input_file",
    metavar="FILE.json",
    help="A service definition as `aws ecs create-service --cli-input-json` takes it "
    "(`-` reads stdin); options given as well override its fields.",
)
@wait_options
@click.pass_context
def service_create(
    ctx: click.Context,
    cluster: str,
    name: str | None,
    task_definition: str | None,
    desired_count: int | None,
    max_percent: int | None,
    min_healthy_percent: int | None,
    circuit_breaker: bool | None,
    rollback: bool | None,
    grace_period: int | None,
    strategies: list[dict[str, str]],
    constraints: list[dict[str, str]],
    daemon: bool,
    tags: list[dict[str, str]],
    input_file: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Create service NAME running TASK_DEFINITION (or one defined in --input FILE.json)."""
    api = client(ctx)
    params: dict[str, Any] = {}
    if input_file is not None:
        accepted = set(api.meta.service_model.operation_model("CreateService").input_shape.members)
        params = create_service_input(load_json_file(input_file), accepted)
    if ctx.get_parameter_source("cluster") != ParameterSource.DEFAULT or "cluster" not in params:
        params["cluster"] = cluster
    overrides = {
        "serviceName": name,
        "taskDefinition": task_definition,
        "desiredCount": desired_count,
        "healthCheckGracePeriodSeconds": grace_period,
        "placementStrategy": strategies or None,
        "placementConstraints": constraints or None,
        "schedulingStrategy": "DAEMON" if daemon else None,
        "tags": tags or None,
    }
    params.update({key: value for key, value in overrides.items() if value is not None})
    current = params.get("deploymentConfiguration")
    current = current if isinstance(current, dict) else {}
    config = deployment_configuration(
        max_percent,
        min_healthy_percent,
        circuit_breaker,
        rollback,
        current.get("deploymentCircuitBreaker"),
    )
    if config:
        params["deploymentConfiguration"] = {**current, **config}

    if not params.get("serviceName"):
        raise InputError("give the service NAME (or serviceName in the --input file)")
    if not params.get("taskDefinition"):
        raise InputError("give --task-definition (or taskDefinition in the --input file)")
    if params.get("schedulingStrategy") == "DAEMON":
        if desired_count is not None:
            raise InputError("--desired-count cannot be used with --daemon")
    elif "desiredCount" not in params:
        raise InputError("give --desired-count (or desiredCount in the --input file)")

    response = api.create_service(**params)
    created = response["service"]
    emit(ctx, response, lambda: message(deployment_message("Created", created)))
    finish_wait(ctx, params["cluster"], created, wait, timeout)


@service.command("ls")
@cluster_option()
@click.pass_context
def service_ls(ctx: click.Context, cluster: str) -> None:
    """List the services of a cluster with their task counts and rollout state."""
    api = client(ctx)
    arns = paginate(api, "list_services", "serviceArns", cluster=cluster)
    if settings(ctx).json:
        print_json({"serviceArns": arns})
        return
    described = describe_all(
        api,
        "describe_services",
        "services",
        arns,
        name_param="services",
        size=DESCRIBE_BATCH,
        cluster=cluster,
    )
    show(
        table(
            SERVICE_COLUMNS,
            [service_row(item) for item in described["services"]],
            title=f"Cluster {short_id(cluster)}",
            numeric=SERVICE_COUNTS,
        )
    )
    report_failures(described["failures"])


@service.command("describe")
@cluster_option()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.pass_context
def service_describe(ctx: click.Context, cluster: str, names: tuple[str, ...]) -> None:
    """Show services in detail with their deployments and last 10 events (exit 1 if missing)."""
    described = describe_all(
        client(ctx),
        "describe_services",
        "services",
        names,
        name_param="services",
        size=DESCRIBE_BATCH,
        cluster=cluster,
        include=["TAGS"],
    )

    autoscaling = client(ctx, "application-autoscaling")
    scaling = {
        item["serviceArn"]: scaling_view.read(autoscaling, item) for item in described["services"]
    }

    def render() -> None:
        views: list[Any] = []
        for item in described["services"]:
            views += [service_details(item), deployments_table(item)]
            autoscaling_state = scaling.get(item["serviceArn"])
            if autoscaling_state:
                views += scaling_view.views(autoscaling_state)
            events = item.get("events", [])[:DESCRIBE_EVENTS]
            if events:
                views.append(events_table(events, "Events (newest first)"))
        show(*views)

    autoscaled = {arn: value for arn, value in scaling.items() if value}
    emit(ctx, {**described, "autoScaling": autoscaled} if autoscaled else described, render)
    report_failures(described["failures"])


@service.command("events")
@cluster_option()
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_context
def service_events(ctx: click.Context, cluster: str, name: str, limit: int) -> None:
    """Show the latest events of service NAME (newest first)."""
    events = describe_one(client(ctx), cluster, name).get("events", [])[:limit]
    emit(ctx, {"events": events}, lambda: show(events_table(events, f"Service {name}")))


@service.command("update")
@cluster_option()
@click.argument("name")
@click.option("--task-definition", help="Deploy this task definition (family[:revision] or ARN).")
@click.option("--desired-count", type=click.IntRange(min=0))
@click.option(
    "--force-new-deployment", is_flag=True, help="Replace every task even if nothing changed."
)
@deployment_options
@wait_options
@click.pass_context
def service_update(
    ctx: click.Context,
    cluster: str,
    name: str,
    task_definition: str | None,
    desired_count: int | None,
    force_new_deployment: bool,
    max_percent: int | None,
    min_healthy_percent: int | None,
    circuit_breaker: bool | None,
    rollback: bool | None,
    grace_period: int | None,
    wait: bool,
    timeout: float,
) -> None:
    """Change service NAME; a new task definition (or --force-new-deployment) rolls it out."""
    api = client(ctx)
    params: dict[str, Any] = {"cluster": cluster, "service": name}
    if task_definition:
        params["taskDefinition"] = task_definition
    if desired_count is not None:
        params["desiredCount"] = desired_count
    if force_new_deployment:
        params["forceNewDeployment"] = True
    if grace_period is not None:
        params["healthCheckGracePeriodSeconds"] = grace_period
    breaker: dict[str, Any] = {}
    if (circuit_breaker is True and rollback is None) or (
        circuit_breaker is None and rollback is False
    ):
        # Only these keep a flag from the current configuration (ECS wants both).
        current = describe_one(api, cluster, name).get("deploymentConfiguration") or {}
        breaker = current.get("deploymentCircuitBreaker") or {}
    config = deployment_configuration(
        max_percent, min_healthy_percent, circuit_breaker, rollback, breaker
    )
    if config:
        params["deploymentConfiguration"] = config
    if len(params) == 2:
        raise InputError(
            "nothing to update: give --task-definition, --desired-count, "
            "--force-new-deployment or a deployment option"
        )
    response = api.update_service(**params)
    updated = response["service"]
    emit(ctx, response, lambda: message(deployment_message("Updated", updated)))
    finish_wait(ctx, cluster, updated, wait, timeout)


@service.command("scale")
@cluster_option()
@click.argument("name")
@click.argument("count", type=click.IntRange(min=0))
@wait_options
@click.pass_context
def service_scale(
    ctx: click.Context, cluster: str, name: str, count: int, wait: bool, timeout: float
) -> None:
    """Set the desired task count of service NAME to COUNT."""
    response = client(ctx).update_service(cluster=cluster, service=name, desiredCount=count)
    updated = response["service"]
    emit(ctx, response, lambda: message(deployment_message("Scaled", updated)))
    finish_wait(ctx, cluster, updated, wait, timeout)


@service.command("rm")
@cluster_option()
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even if it still runs tasks (they stop).")
@click.pass_context
def service_rm(ctx: click.Context, cluster: str, name: str, force: bool) -> None:
    """Delete service NAME (scale it to 0 first, or use --force)."""
    params: dict[str, Any] = {"cluster": cluster, "service": name}
    if force:
        params["force"] = True
    response = client(ctx).delete_service(**params)
    deleted = response["service"]
    emit(
        ctx,
        response,
        lambda: message(f"Deleted service {deleted['serviceName']} ({deleted.get('status')})"),
    )
