"""GET pages and their htmx fragments: one keyset page of API answers each, never a scan.

Each list is one List* call (maxResults, nextToken) and one Describe* call for
that page, so a cluster of 1,000 services and 100,000 tasks costs the same to
show as a small one. Fragments poll themselves (`hx-trigger="every 3s"`) with the
token of the page they show, so the page a person is reading stays put.
Pages are plain functions: app.py mounts them through `threaded` (context.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.console import views
from dockyard.console.context import console, render
from dockyard.errors import AwsError

SERVICES_PAGE = 10  # DescribeServices takes at most 10 services
TASKS_PAGE = 25
INSTANCES_PAGE = 25
CLUSTERS_PAGE = 50
BALANCERS_PAGE = 10


def _next(request: web.Request) -> str | None:
    return request.query.get("next") or None


def clusters(request: web.Request) -> web.Response:
    api = console(request).api
    listed = api.ecs("ListClusters", maxResults=CLUSTERS_PAGE, nextToken=_next(request))
    arns = listed.get("clusterArns", [])
    docs = api.ecs("DescribeClusters", clusters=arns)["clusters"] if arns else []
    return render(request, "clusters.html", {"clusters": docs, "next": listed.get("nextToken")})


def instances_context(request: web.Request, cluster: str) -> dict[str, Any]:
    api = console(request).api
    token = _next(request)
    listed = api.ecs(
        "ListContainerInstances", cluster=cluster, maxResults=INSTANCES_PAGE, nextToken=token
    )
    arns = listed.get("containerInstanceArns", [])
    docs = (
        api.ecs("DescribeContainerInstances", cluster=cluster, containerInstances=arns)[
            "containerInstances"
        ]
        if arns
        else []
    )
    return {
        "cluster": cluster,
        "instances": [views.instance_row(d) for d in docs],
        "token": token or "",
        "next": listed.get("nextToken"),
    }


def services_context(request: web.Request, cluster: str) -> dict[str, Any]:
    api = console(request).api
    token = _next(request)
    listed = api.ecs("ListServices", cluster=cluster, maxResults=SERVICES_PAGE, nextToken=token)
    arns = listed.get("serviceArns", [])
    docs = api.ecs("DescribeServices", cluster=cluster, services=arns)["services"] if arns else []
    rows = []
    for doc in docs:
        primary = next(iter(views.deployment_rows(doc)), None)
        rows.append({"doc": doc, "primary": primary})
    return {
        "cluster": cluster,
        "services": rows,
        "token": token or "",
        "next": listed.get("nextToken"),
    }


def tasks_context(request: web.Request, cluster: str, service: str | None = None) -> dict[str, Any]:
    state = console(request)
    token = _next(request)
    status = "STOPPED" if request.query.get("status") == "STOPPED" else "RUNNING"
    listed = state.api.ecs(
        "ListTasks",
        cluster=cluster,
        serviceName=service,
        desiredStatus=status,
        maxResults=TASKS_PAGE,
        nextToken=token,
    )
    arns = listed.get("taskArns", [])
    docs = state.api.ecs("DescribeTasks", cluster=cluster, tasks=arns)["tasks"] if arns else []
    now = state.clock()
    return {
        "cluster": cluster,
        "service": service,
        "tasks": [views.task_row(d, now) for d in docs],
        "status": status,
        "token": token or "",
        "next": listed.get("nextToken"),
    }


def cluster(request: web.Request) -> web.Response:
    name = request.match_info["cluster"]
    api = console(request).api
    found = api.ecs("DescribeClusters", clusters=[name])["clusters"]
    if not found:
        raise web.HTTPNotFound(text=f"No cluster named {name}.")
    return render(
        request,
        "cluster.html",
        {
            "doc": found[0],
            "cluster": name,
            "i": instances_context(request, name),
            "s": services_context(request, name),
            "t": tasks_context(request, name),
        },
    )


def instances_fragment(request: web.Request) -> web.Response:
    return render(
        request, "_instances.html", {"i": instances_context(request, request.match_info["cluster"])}
    )


def services_fragment(request: web.Request) -> web.Response:
    return render(
        request, "_services.html", {"s": services_context(request, request.match_info["cluster"])}
    )


def tasks_fragment(request: web.Request) -> web.Response:
    service = request.match_info.get("service")
    context = tasks_context(request, request.match_info["cluster"], service)
    return render(request, "_tasks.html", {"t": context})


def describe_service(request: web.Request) -> dict[str, Any]:
    cluster, name = request.match_info["cluster"], request.match_info["service"]
    state = console(request)
    found = state.api.ecs("DescribeServices", cluster=cluster, services=[name])["services"]
    if not found:
        raise web.HTTPNotFound(text=f"No service named {name} in {cluster}.")
    return dict(found[0])


def target_groups(request: web.Request, service: dict[str, Any]) -> list[dict[str, Any]]:
    """The service's target groups, each with its targets' health (DescribeTargetHealth)."""
    api = console(request).api
    arns = sorted({lb["targetGroupArn"] for lb in service.get("loadBalancers", [])
                   if lb.get("targetGroupArn")})  # fmt: skip
    if not arns:
        return []
    groups = api.elbv2("DescribeTargetGroups", TargetGroupArns=arns)["TargetGroups"]
    for group in groups:
        group["Health"] = api.elbv2("DescribeTargetHealth", TargetGroupArn=group["TargetGroupArn"])[
            "TargetHealthDescriptions"
        ]
    return list(groups)


def overview_context(request: web.Request) -> dict[str, Any]:
    service = describe_service(request)
    now = console(request).clock()
    return {
        "cluster": request.match_info["cluster"],
        "service": service,
        "deployments": views.deployment_rows(service),
        "events": views.event_rows(service, now),
        "groups": target_groups(request, service),
    }


def service(request: web.Request) -> web.Response:
    context = overview_context(request)
    family = views.task_definition_label(context["service"].get("taskDefinition", "")).split(":")[0]
    try:
        revisions = console(request).api.ecs(
            "ListTaskDefinitions", familyPrefix=family, sort="DESC", maxResults=20
        )["taskDefinitionArns"]
    except AwsError:
        revisions = []
    tab = "metrics" if request.query.get("tab") == "metrics" else "overview"
    return render(
        request,
        "service.html",
        {
            **context,
            "o": context,
            "tab": tab,
            "revisions": [views.task_definition_label(arn) for arn in revisions],
            "t": tasks_context(request, context["cluster"], context["service"]["serviceName"]),
        },
    )


def service_overview(request: web.Request) -> web.Response:
    return render(request, "_overview.html", {"o": overview_context(request)})


def task(request: web.Request) -> web.Response:
    cluster, task_id = request.match_info["cluster"], request.match_info["task"]
    found = console(request).api.ecs("DescribeTasks", cluster=cluster, tasks=[task_id])["tasks"]
    if not found:
        raise web.HTTPNotFound(text=f"No task {task_id} in {cluster}.")
    doc = found[0]
    template = "_task_status.html" if request.headers.get("HX-Request") else "task.html"
    return render(
        request,
        template,
        {
            "cluster": cluster,
            "task": doc,
            "row": views.task_row(doc, console(request).clock()),
            "containers": views.container_rows(doc),
        },
    )


def load_balancers(request: web.Request) -> web.Response:
    api = console(request).api
    listed = api.elbv2("DescribeLoadBalancers", PageSize=BALANCERS_PAGE, Marker=_next(request))
    balancers = []
    for lb in listed.get("LoadBalancers", []):
        arn = lb["LoadBalancerArn"]
        listeners = api.elbv2("DescribeListeners", LoadBalancerArn=arn)["Listeners"]
        groups = api.elbv2("DescribeTargetGroups", LoadBalancerArn=arn)["TargetGroups"]
        names = {g["TargetGroupArn"]: g["TargetGroupName"] for g in groups}
        for listener in listeners:
            rules = api.elbv2("DescribeRules", ListenerArn=listener["ListenerArn"])["Rules"]
            listener["RuleRows"] = [views.rule_row(rule, names) for rule in rules]
        for group in groups:
            group["Health"] = api.elbv2(
                "DescribeTargetHealth", TargetGroupArn=group["TargetGroupArn"]
            )["TargetHealthDescriptions"]
        balancers.append({"lb": lb, "listeners": listeners, "groups": groups})
    return render(
        request, "load_balancers.html", {"balancers": balancers, "next": listed.get("NextMarker")}
    )
