"""The console's pure parts: view-models from API documents, chart data, sessions and
CSRF tokens, and the templates rendered from them (no server, no browser)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.console import auth, metrics, views

ARN = "arn:aws:ecs:us-east-1:000000000000"


def resources(cpu: int, memory: int) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
    ]


def instance(
    status: str = "ACTIVE", connected: bool = True, remaining: tuple[int, int] = (1024, 1536)
) -> dict[str, Any]:
    return {
        "containerInstanceArn": f"{ARN}:container-instance/stage01/0123456789abcdef",
        "status": status,
        "agentConnected": connected,
        "runningTasksCount": 3,
        "pendingTasksCount": 1,
        "registeredResources": resources(2048, 2048),
        "remainingResources": resources(*remaining),
        "attributes": [
            {"name": "ecs.os-type", "value": "linux"},
            {"name": "dockyard.host-ip", "value": "127.0.1.2"},
        ],
    }


@pytest.mark.parametrize(
    ("remaining", "cpu_pct", "mem_pct", "cpu_level"),
    [
        pytest.param((2048, 2048), 0, 0, "low", id="idle"),
        pytest.param((1024, 1536), 50, 25, "low", id="half-cpu"),
        pytest.param((512, 0), 75, 100, "mid", id="memory-full"),
        pytest.param((0, 1024), 100, 50, "high", id="cpu-full"),
    ],
)
def test_instance_bars_show_reserved_share(
    remaining: tuple[int, int], cpu_pct: int, mem_pct: int, cpu_level: str
) -> None:
    row = views.instance_row(instance(remaining=remaining))
    assert (row.cpu.percent, row.memory.percent, row.cpu.level) == (cpu_pct, mem_pct, cpu_level)
    assert row.cpu.total == 2048 and row.cpu.used == 2048 - remaining[0]
    assert row.id == "0123456789abcdef" and row.address == "127.0.1.2"
    assert (row.running, row.pending) == (3, 1)


def test_instance_agent_state() -> None:
    assert views.instance_row(instance(connected=False)).agent_state == "disconnected"
    assert views.instance_row(instance()).agent_state == "connected"


@given(used=st.integers(0, 10_000), total=st.integers(-5, 10_000))
def test_bar_percent_is_bounded(used: int, total: int) -> None:
    assert 0 <= views.Bar(used, total).percent <= 100


def deployment(
    status: str, desired: int, running: int, created: float, **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"ecs-svc/{status}{created}",
        "status": status,
        "taskDefinition": f"{ARN}:task-definition/web:{int(created)}",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": desired - running,
        "failedTasks": 0,
        "createdAt": created,
        "rolloutState": "IN_PROGRESS",
        **extra,
    }


@pytest.mark.parametrize(
    ("desired", "running", "progress"),
    [
        pytest.param(4, 1, 25, id="quarter"),
        pytest.param(4, 4, 100, id="done"),
        pytest.param(3, 5, 100, id="over-capped"),
        pytest.param(0, 0, 100, id="scaled-to-zero"),
        pytest.param(0, 2, 0, id="draining-old"),
    ],
)
def test_deployment_progress(desired: int, running: int, progress: int) -> None:
    (row,) = views.deployment_rows({"deployments": [deployment("PRIMARY", desired, running, 2)]})
    assert row.progress == progress


def test_deployments_primary_first_then_newest() -> None:
    service = {
        "deployments": [
            deployment("ACTIVE", 2, 2, 1),
            deployment("ACTIVE", 0, 1, 3),
            deployment("PRIMARY", 2, 0, 2),
        ]
    }
    rows = views.deployment_rows(service)
    assert [r.status for r in rows] == ["PRIMARY", "ACTIVE", "ACTIVE"]
    assert [r.task_definition for r in rows] == ["web:2", "web:3", "web:1"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s ago"),
        (59, "59s ago"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (7200, "2h ago"),
        (90000, "1d ago"),
        (-5, "0s ago"),
    ],
)
def test_ago(seconds: int, text: str) -> None:
    assert views.ago(1000.0 - seconds, 1000.0) == text
    assert views.ago(None, 1000.0) == ""


def task_doc(**extra: Any) -> dict[str, Any]:
    return {
        "taskArn": f"{ARN}:task/stage01/abcdef0123456789",
        "taskDefinitionArn": f"{ARN}:task-definition/web:7",
        "containerInstanceArn": f"{ARN}:container-instance/stage01/0123456789abcdef",
        "group": "service:web",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "createdAt": 900.0,
        "stoppedReason": "Essential container in task exited",
        "containers": [
            {
                "name": "web",
                "image": "dockyard-demo/web:1",
                "lastStatus": "STOPPED",
                "exitCode": 137,
                "reason": "OOM",
                "networkBindings": [
                    {
                        "bindIP": "127.0.1.2",
                        "hostPort": 49200,
                        "containerPort": 80,
                        "protocol": "tcp",
                    }
                ],
            },
            {"name": "sidecar", "image": "busybox", "lastStatus": "STOPPED", "exitCode": 0},
            {"name": "never", "image": "busybox", "lastStatus": "PENDING"},
        ],
        **extra,
    }


def test_task_and_container_rows() -> None:
    row = views.task_row(task_doc(startedAt=940.0), 1000.0)
    assert (row.id, row.task_definition, row.instance, row.started) == (
        "abcdef0123456789",
        "web:7",
        "0123456789abcdef",
        "1m ago",
    )
    containers = views.container_rows(task_doc())
    assert [c.exit_code for c in containers] == [137, 0, None]
    assert containers[0].ports == "127.0.1.2:49200->80/tcp"
    assert containers[0].reason == "OOM"


def test_rule_rows_read_like_sentences() -> None:
    names = {"arn:tg/api": "api", "arn:tg/web": "web"}
    rule = {
        "Priority": "10",
        "Conditions": [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/v2/*"]}},
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["blue"]},
            },
        ],
        "Actions": [
            {
                "Type": "forward",
                "Order": 1,
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": "arn:tg/api", "Weight": 3},
                        {"TargetGroupArn": "arn:tg/web", "Weight": 1},
                    ]
                },
            }
        ],
    }
    row = views.rule_row(rule, names)
    assert row.conditions == "path-pattern is /api/* or /v2/* and http-header X-Env is blue"
    assert row.actions == "forward to api (3), web (1)"
    default = views.rule_row(
        {
            "Priority": "default",
            "IsDefault": True,
            "Conditions": [],
            "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
        },
        names,
    )
    assert (default.conditions, default.actions) == ("(default)", "fixed response 404")
    single = views.rule_row(
        {"Actions": [{"Type": "forward", "TargetGroupArn": "arn:tg/web"}]}, names
    )
    assert single.actions == "forward to web"


# --- metrics tab ---------------------------------------------------------------------------

LB = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/front/50dc6c495c0c9188"
TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/73e2d6bc24d8a067"


def test_service_queries_use_ecs_and_alb_dimensions() -> None:
    charts, queries = metrics.service_queries("stage01", "web", [("web", TG, LB)])
    by_id = {q["Id"]: q["MetricStat"] for q in queries}
    assert by_id["cpu"]["Metric"] == {
        "Namespace": "AWS/ECS",
        "MetricName": "CPUUtilization",
        "Dimensions": [
            {"Name": "ClusterName", "Value": "stage01"},
            {"Name": "ServiceName", "Value": "web"},
        ],
    }
    assert by_id["mem"]["Metric"]["MetricName"] == "MemoryUtilization"
    assert by_id["req0"]["Metric"]["Dimensions"] == [
        {"Name": "LoadBalancer", "Value": "app/front/50dc6c495c0c9188"},
        {"Name": "TargetGroup", "Value": "targetgroup/web/73e2d6bc24d8a067"},
    ]
    assert (by_id["req0"]["Stat"], by_id["rt0"]["Stat"], by_id["rt0"]["Metric"]["MetricName"]) == (
        "Sum",
        "Average",
        "TargetResponseTime",
    )
    assert [c.title for c in charts] == [
        "CPU utilization",
        "Memory utilization",
        "Request count",
        "Target response time",
    ]
    assert charts[2].queries == ("req0",)


def test_service_queries_pass_botocore_validation() -> None:
    from botocore.validate import ParamValidator

    from dockyard.api.models import service_model

    _, queries = metrics.service_queries("stage01", "web", [("web", TG, LB)])
    shape = service_model("cloudwatch").operation_model("GetMetricData").input_shape
    report = ParamValidator().validate(
        {"MetricDataQueries": queries, "StartTime": 0, "EndTime": 3600}, shape
    )
    assert not report.has_errors(), report.generate_report()


def test_charts_data_aligns_series_on_one_timeline_with_gaps() -> None:
    charts, _ = metrics.service_queries("c", "s", [])
    results = [
        {"Id": "cpu", "Label": "CPU (avg)", "Timestamps": [1000, 1020], "Values": [12.5, 40.0]},
        {
            "Id": "mem",
            "Label": "Memory (avg)",
            "Timestamps": [1030, 5000],
            "Values": [55.123456, 1.0],
        },  # 5000: outside
    ]
    data = metrics.charts_data(charts, results, start=1001, end=1035, period=10)
    cpu, mem, requests, _latency = data
    assert cpu["data"][0] == [1000, 1010, 1020, 1030]
    assert cpu["data"][1] == [12.5, None, 40.0, None]
    assert cpu["data"][2] == [None] * 4  # cpumax: no datapoints
    assert cpu["labels"] == ["CPU (avg)", "cpumax"] and not cpu["empty"]
    assert mem["data"][1] == [None, None, None, 55.1235]
    assert requests["data"] == [[1000, 1010, 1020, 1030]] and requests["empty"]


@given(st.lists(st.tuples(st.integers(0, 7200), st.floats(0, 100)), max_size=50))
def test_charts_data_columns_match_the_timeline(points: list[tuple[int, float]]) -> None:
    charts, _ = metrics.service_queries("c", "s", [("t", TG, LB)])
    results = [
        {"Id": "cpu", "Timestamps": [t for t, _ in points], "Values": [v for _, v in points]}
    ]
    for chart in metrics.charts_data(charts, results, 0, 3600):
        assert all(len(column) == len(chart["data"][0]) for column in chart["data"])
    kept = metrics.charts_data(charts, results, 0, 3600)[0]["data"][1]
    assert sum(v is not None for v in kept) == len({t // 10 for t, _ in points if t <= 3600})


# --- sessions and CSRF --------------------------------------------------------------------

CREDS = {"AKIDCONSOLE": "s3cret"}


def test_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    first = auth.load_secret(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / auth.SECRET_FILE).st_mode)
    assert mode == 0o600 and len(first) == 32
    os.chmod(tmp_path / auth.SECRET_FILE, 0o644)
    assert auth.load_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / auth.SECRET_FILE).st_mode) == 0o600


def test_session_round_trip_and_refusals() -> None:
    secret = b"k" * 32
    cookie = auth.sign_session(secret, "AKIDCONSOLE", now=1000.0, ttl=60)
    session = auth.read_session(secret, cookie, 1010.0, CREDS)
    assert session is not None and session.access_key == "AKIDCONSOLE"
    assert auth.read_session(secret, cookie, 1061.0, CREDS) is None  # expired
    assert auth.read_session(b"x" * 32, cookie, 1010.0, CREDS) is None  # other server
    assert auth.read_session(secret, cookie, 1010.0, {"AKIDOTHER": "s"}) is None  # key removed
    payload, mac = cookie.split(".")
    forged = payload.replace(payload[3], "A" if payload[3] != "A" else "B", 1) + "." + mac
    assert auth.read_session(secret, forged, 1010.0, CREDS) is None
    for junk in (None, "", "nodot", "a.b", "." + mac):
        assert auth.read_session(secret, junk, 1010.0, CREDS) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    secret = b"k" * 32
    one = auth.read_session(secret, auth.sign_session(secret, "AKIDCONSOLE", 0), 1, CREDS)
    two = auth.read_session(secret, auth.sign_session(secret, "AKIDCONSOLE", 0), 1, CREDS)
    assert one is not None and two is not None
    assert auth.csrf_ok(secret, one, auth.csrf_token(secret, one))
    assert not auth.csrf_ok(secret, one, auth.csrf_token(secret, two))
    assert not auth.csrf_ok(secret, one, None) and not auth.csrf_ok(secret, one, "")
    anonymous = auth.anonymous()
    assert not auth.csrf_ok(b"y" * 32, anonymous, auth.csrf_token(secret, anonymous))


def test_login_check_and_safe_next() -> None:
    assert auth.check_login(CREDS, "AKIDCONSOLE", "s3cret")
    assert not auth.check_login(CREDS, "AKIDCONSOLE", "wrong")
    assert not auth.check_login(CREDS, "AKIDNOBODY", "s3cret")
    assert auth.safe_next("/console/clusters/x", "/console") == "/console/clusters/x"
    for bad in ("https://evil.example/", "//evil.example/console/", "/consolex", "", None):
        assert auth.safe_next(bad, "/console") == "/console/"


# --- templates ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dockyard.console", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )


BASE = {
    "prefix": "/console",
    "csrf": "tok123",
    "user": None,
    "login": False,
    "msg": "",
    "err": "",
    "now": 1000.0,
}


def test_instances_fragment_shows_bars_state_and_drain(templates: jinja2.Environment) -> None:
    rows = [
        views.instance_row(instance()),
        views.instance_row(instance(status="DRAINING", connected=False)),
    ]
    html = templates.get_template("_instances.html").render(
        **BASE, i={"cluster": "stage01", "instances": rows, "token": "", "next": "tok/next"}
    )
    assert 'style="width: 50%"' in html and "50%</span>" in html
    assert ">connected<" in html and ">disconnected<" in html
    assert ">Drain</button>" in html and ">Activate</button>" in html
    assert 'name="csrf_token" value="tok123"' in html
    assert "next=tok/next" in html and "First page" not in html


def test_task_page_escapes_and_shows_exit_codes(templates: jinja2.Environment) -> None:
    doc = task_doc(stoppedReason="<script>alert(1)</script>")
    html = templates.get_template("task.html").render(
        **BASE,
        cluster="stage01",
        task=doc,
        row=views.task_row(doc, 1000.0),
        containers=views.container_rows(doc),
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert '<td class="exit-code">137</td>' in html and '<td class="exit-code">0</td>' in html
    assert '<td class="exit-code"></td>' in html
    assert "stop-task" not in html  # already stopped: no stop button
    assert (
        'data-url="/console/task-logs?cluster=stage01&amp;task=abcdef0123456789&amp;tail=200"'
        in html
    )
    assert 'href="/console/clusters/stage01/services/web"' in html


def test_service_page_tabs_and_actions(templates: jinja2.Environment) -> None:
    service = {
        "serviceName": "web",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 1,
        "pendingCount": 1,
        "taskDefinition": f"{ARN}:task-definition/web:7",
        "deployments": [deployment("PRIMARY", 2, 1, 7)],
        "events": [{"createdAt": 990.0, "message": "(service web) has reached a steady state."}],
    }
    overview = {
        "cluster": "stage01",
        "service": service,
        "deployments": views.deployment_rows(service),
        "events": views.event_rows(service, 1000.0),
        "groups": [],
    }
    context = {
        **BASE,
        **overview,
        "o": overview,
        "revisions": ["web:7", "web:6"],
        "cluster": "stage01",
        "t": {
            "cluster": "stage01",
            "service": "web",
            "tasks": [],
            "status": "RUNNING",
            "token": "",
            "next": None,
        },
    }
    html = templates.get_template("service.html").render(**context, tab="overview")
    assert 'value="3"' in html  # scale out: desired + 1
    assert '<option value="web:7" selected>' in html and '<option value="web:6">' in html
    assert "1 of 2 running, 1 pending" in html and "10s ago" in html
    assert 'id="metrics"' not in html
    metrics_html = templates.get_template("service.html").render(**context, tab="metrics")
    assert 'data-url="/console/clusters/stage01/services/web/metrics.json"' in metrics_html
    assert 'id="deployments"' not in metrics_html


def test_pages_load_only_vendored_assets(templates: jinja2.Environment) -> None:
    html = templates.get_template("clusters.html").render(**BASE, clusters=[], next=None)
    assert "http://" not in html and "https://" not in html
    static = Path(views.__file__).parent / "static"
    for name in (
        "htmx-2.0.11.min.js",
        "uPlot-1.6.32.iife.min.js",
        "uPlot-1.6.32.min.css",
        "console.js",
        "console.css",
    ):
        assert f"/console/static/{name}" in html
        assert (static / name).stat().st_size > 0
    assert (static / "LICENSE.htmx").exists() and (static / "LICENSE.uPlot").exists()
