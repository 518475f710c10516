"""An in-process Dockyard for fuzzing: the real aiohttp app on a SQLite store, spoken to
with exactly the bytes botocore's serializers produce.

`Wire` owns one app (its own event loop, an aiohttp TestServer on loopback) and
answers `call(endpoint, operation, params)` and `post(body, headers)`; `snapshot()`
reads every control-store table, to prove that refused requests write nothing.
`seed(wire)` creates a cluster, a task definition, an instance, a service, a task,
an ALB with its target group, listener and rule, and - when their handlers exist -
metrics, alarms, a scalable target, scaling policies and a scheduled action,
learning every name and ARN for the fuzzer's plausible values.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from dockyard.api.app import create_app
from dockyard.api.json_protocol import JsonService
from dockyard.api.models import service_model
from dockyard.context import ApiContext, Handler
from dockyard.logs.store import LogStore
from dockyard.metrics import MetricsStore
from dockyard.store import open_store
from dockyard.store.schema import TABLES, tags
from dockyard.store.sql import SqlStore, sqlite_url
from dockyard.testing.certs import make_certificate
from dockyard.testing.fuzz import NOW, Plausible

_TABLES = [*TABLES.items(), ("tags", tags)]


@dataclass(frozen=True)
class Endpoint:
    """One served API on one protocol: what the fuzzer iterates over."""

    label: str
    model_name: str
    protocol: str  # "json" | "query"
    handlers: Mapping[str, Handler]

    def operation(self, name: str) -> OperationModel:
        return service_model(self.model_name).operation_model(name)


def endpoints() -> list[Endpoint]:
    """Every service the app serves (create_app's default list), with its handler table
    as it is *now*: handlers registered by other modules are fuzzed as soon as they exist."""
    from dockyard.api.acm import ACM
    from dockyard.api.autoscaling import APPLICATION_AUTOSCALING
    from dockyard.api.cloudwatch import CLOUDWATCH, CLOUDWATCH_QUERY
    from dockyard.api.ecs import ECS
    from dockyard.api.elbv2 import ELBV2
    from dockyard.api.logs import LOGS

    labels = ["ecs", "elbv2", "cloudwatch-json", "cloudwatch-query", "autoscaling", "logs", "acm"]
    services = [ECS, ELBV2, CLOUDWATCH, CLOUDWATCH_QUERY, APPLICATION_AUTOSCALING, LOGS, ACM]
    return [
        Endpoint(
            label,
            service.model_name,
            "json" if isinstance(service, JsonService) else "query",
            service.handlers,
        )
        for label, service in zip(labels, services, strict=True)
    ]


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def encode(
    endpoint: Endpoint, name: str, params: Mapping[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """The request botocore would send for `params` (no client-side validation)."""
    serializer = create_serializer(endpoint.protocol, include_validation=False)
    request = serializer.serialize_to_request(dict(params), endpoint.operation(name))
    headers = {k: str(v) for k, v in request["headers"].items()}
    body = request["body"]
    if isinstance(body, dict):  # the query serializer leaves the form to the HTTP layer
        body = urlencode(body).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    return body, headers


def parse(endpoint: Endpoint, name: str, answer: Answer) -> dict[str, Any]:
    """The answer as botocore parses it (errors as {"Error": {...}})."""
    operation = endpoint.operation(name)
    parser = create_parser(endpoint.protocol)
    shape = operation.output_shape if answer.status < 300 else None
    return dict(
        parser.parse(
            {"status_code": answer.status, "headers": dict(answer.headers), "body": answer.body},
            shape,
        )
    )


def _open_metrics(path: Path) -> MetricsStore:
    """Datapoints apart from the control store, flushed on demand (no thread)."""
    return MetricsStore(path, clock=NOW.timestamp, flush_interval_s=None)


class Wire:
    """One in-process server over the store in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store: SqlStore = open_store(sqlite_url(data_dir))
        self.metrics = _open_metrics(data_dir / "metrics.db")
        self.ctx = ApiContext(store=self.store, clock=NOW.timestamp, seed=7, metrics=self.metrics)
        self.ctx.certs_dir = self.certs_dir = data_dir / "certs"  # ACM's key files
        self.ctx.logs = LogStore(None, clock=NOW.timestamp, expire_interval_s=None)
        self.loop = asyncio.new_event_loop()

        async def start() -> TestClient[Any, Any]:
            client: TestClient[Any, Any] = TestClient(TestServer(create_app(self.ctx)))
            await client.start_server()
            return client

        self.client = self.loop.run_until_complete(start())
        try:
            self.mark_baseline()
        except Exception:  # e.g. a table without its migration: fail, but leak nothing
            self.close()
            raise

    def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        async def send() -> Answer:
            async with self.client.post("/", data=body, headers=dict(headers)) as response:
                return Answer(response.status, dict(response.headers), await response.read())

        return self.loop.run_until_complete(send())

    def call(self, endpoint: Endpoint, name: str, params: Mapping[str, Any]) -> Answer:
        body, headers = encode(endpoint, name, params)
        return self.post(body, headers)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every control-store table (and the tags)."""
        with self.store.engine.connect() as conn:
            return {
                name: [dict(row._mapping) for row in conn.execute(sa.select(table))]
                for name, table in _TABLES
            }

    def _files(self) -> list[str]:
        """ACM's and the trust stores' files (trust stores keep theirs in subdirectories)."""
        if not self.certs_dir.exists():
            return []
        paths = self.certs_dir.rglob("*")
        return [str(p.relative_to(self.certs_dir)) for p in paths if p.is_file()]

    def snapshot(self) -> dict[str, list[str]]:
        """`rows()`, comparable and order-independent, and the files ACM keeps."""
        files = sorted(self._files())
        return {
            "files:certs": files,
            **{
                name: sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)
                for name, rows in self.rows().items()
            },
        }

    def mark_baseline(self) -> None:
        """The store as it is now is what `reset()` goes back to."""
        self.baseline_rows = self.rows()
        self.baseline_files = {name: (self.certs_dir / name).read_bytes() for name in self._files()}
        self.baseline = self.snapshot()

    def reset(self) -> None:
        """Back to the seeded state, so that every example starts from the same store."""
        if self.snapshot() == self.baseline:
            return
        for name in self._files():
            if name not in self.baseline_files:
                (self.certs_dir / name).unlink()
        for name, data in self.baseline_files.items():
            (self.certs_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.certs_dir / name).write_bytes(data)
        with self.store.engine.begin() as conn:
            for name, table in _TABLES:
                conn.execute(sa.delete(table))
                if self.baseline_rows[name]:
                    conn.execute(sa.insert(table), self.baseline_rows[name])

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.metrics.close()
        if self.ctx.logs is not None:
            self.ctx.logs.close()
        self.store.close()


def copy_data(source: Path, target: Path) -> None:
    shutil.copytree(source, target)


# --- seeding -------------------------------------------------------------------------------

TASKDEF: dict[str, Any] = {
    "family": "web",
    "networkMode": "bridge",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "dockyard-demo/web:1",
            "cpu": 128,
            "memory": 128,
            "essential": True,
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        }
    ],
    "tags": [{"key": "team", "value": "platform"}],
}
RESOURCES = [
    {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
    {"name": "MEMORY", "type": "INTEGER", "integerValue": 3900},
    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
]
SERVICE_ID = "service/default/web"
DIMENSION = "ecs:service:DesiredCount"


CERT, KEY = make_certificate("fuzz.example.test", key="ec")


def _seed_calls(found: Mapping[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(endpoint label, action, params); `found` holds ARNs learned so far."""
    lb, tg = found.get("LoadBalancerArn", ""), found.get("TargetGroupArn", "")
    listener, step = found.get("ListenerArn", ""), found.get("StepPolicyARN", "")
    cluster_dims = [{"Name": "ClusterName", "Value": "default"}]
    return [
        ("acm", "ImportCertificate", {"Certificate": CERT, "PrivateKey": KEY}),
        ("ecs", "CreateCluster", {"clusterName": "default", "tags": [{"key": "k", "value": "v"}]}),
        ("ecs", "CreateCluster", {"clusterName": "empty"}),
        (
            "ecs",
            "CreateCapacityProvider",
            {
                "name": "spot",
                "autoScalingGroupProvider": {
                    "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:000000000000:"
                    "autoScalingGroup:1:autoScalingGroupName/spot"
                },
            },
        ),
        ("ecs", "PutAccountSetting", {"name": "containerInsights", "value": "enabled"}),
        ("ecs", "RegisterTaskDefinition", TASKDEF),
        ("ecs", "RegisterContainerInstance", {"cluster": "default", "totalResources": RESOURCES}),
        (
            "ecs",
            "CreateService",
            {
                "cluster": "default",
                "serviceName": "web",
                "taskDefinition": "web",
                "desiredCount": 1,
            },
        ),
        (
            "ecs",
            "CreateService",
            {
                "cluster": "default",
                "serviceName": "blue",
                "desiredCount": 1,
                "deploymentController": {"type": "EXTERNAL"},
            },
        ),
        (
            "ecs",
            "CreateTaskSet",
            {"cluster": "default", "service": "blue", "taskDefinition": "web"},
        ),
        ("ecs", "RunTask", {"cluster": "default", "taskDefinition": "web", "count": 1}),
        (
            "ecs",
            "PutAttributes",
            {
                "cluster": "default",
                "attributes": [
                    {
                        "name": "stack",
                        "value": "prod",
                        "targetType": "container-instance",
                        "targetId": found.get("containerInstanceArn", ""),
                    },
                ],
            },
        ),
        ("elbv2", "CreateLoadBalancer", {"Name": "web-lb", "Tags": [{"Key": "k", "Value": "v"}]}),
        (
            "elbv2",
            "CreateTrustStore",
            {
                "Name": "web-ts",
                "CaCertificatesBundleS3Bucket": "inline",  # Dockyard's inline bundle form
                "CaCertificatesBundleS3Key": CERT.decode(),
            },
        ),
        (
            "elbv2",
            "CreateTargetGroup",
            {
                "Name": "web-tg",
                "Protocol": "HTTP",
                "Port": 8080,
                "TargetType": "ip",
            },
        ),
        (
            "elbv2",
            "CreateListener",
            {
                "LoadBalancerArn": lb,
                "Protocol": "HTTP",
                "Port": 18080,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}],
            },
        ),
        (
            "elbv2",
            "CreateRule",
            {
                "ListenerArn": listener,
                "Priority": 10,
                "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}],
                "Actions": [{"Type": "forward", "TargetGroupArn": tg}],
            },
        ),
        (
            "elbv2",
            "RegisterTargets",
            {"TargetGroupArn": tg, "Targets": [{"Id": "127.0.0.1", "Port": 20001}]},
        ),
        (
            "cloudwatch-json",
            "PutMetricData",
            {
                "Namespace": "Custom/App",
                "MetricData": [
                    {
                        "MetricName": "Jobs",
                        "Dimensions": [{"Name": "Queue", "Value": "q1"}],
                        "Timestamp": NOW,
                        "Value": 5.0,
                        "Unit": "Count",
                    },
                ],
            },
        ),
        (
            "autoscaling",
            "RegisterScalableTarget",
            {
                "ServiceNamespace": "ecs",
                "ResourceId": SERVICE_ID,
                "ScalableDimension": DIMENSION,
                "MinCapacity": 1,
                "MaxCapacity": 4,
            },
        ),
        (
            "autoscaling",
            "PutScalingPolicy",
            {
                "PolicyName": "cpu50",
                "ServiceNamespace": "ecs",
                "ResourceId": SERVICE_ID,
                "ScalableDimension": DIMENSION,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 50.0,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                },
            },
        ),
        (
            "autoscaling",
            "PutScalingPolicy",
            {
                "PolicyName": "step",
                "ServiceNamespace": "ecs",
                "ResourceId": SERVICE_ID,
                "ScalableDimension": DIMENSION,
                "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "Cooldown": 60,
                    "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
                },
            },
        ),
        (
            "autoscaling",
            "PutScheduledAction",
            {
                "ServiceNamespace": "ecs",
                "ResourceId": SERVICE_ID,
                "ScalableDimension": DIMENSION,
                "ScheduledActionName": "nightly",
                "Schedule": "cron(0 2 * * ? *)",
                "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 2},
            },
        ),
        (
            "cloudwatch-json",
            "PutMetricAlarm",
            {
                "AlarmName": "jobs-high",
                "Namespace": "Custom/App",
                "MetricName": "Jobs",
                "Dimensions": [{"Name": "Queue", "Value": "q1"}],
                "Statistic": "Average",
                "Period": 60,
                "EvaluationPeriods": 2,
                "DatapointsToAlarm": 1,
                "Threshold": 10.0,
                "ComparisonOperator": "GreaterThanThreshold",
                "AlarmActions": [step] if step else [],
            },
        ),
        (
            "cloudwatch-json",
            "PutMetricAlarm",
            {
                "AlarmName": "cpu-high",
                "Namespace": "AWS/ECS",
                "MetricName": "CPUUtilization",
                "Dimensions": cluster_dims,
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 80.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            },
        ),
    ]


@dataclass
class Seeded:
    plausible: Plausible
    failures: list[str]  # "endpoint Action: status body" of seed calls that were refused

    def __repr__(self) -> str:  # short in Hypothesis' failure reports
        return f"Seeded({sum(map(len, self.plausible.by_stem.values()))} values)"

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        printer.text(repr(self))


def seed(wire: Wire) -> Seeded:
    """Create one of everything through the API itself, learning names and ARNs."""
    by_label = {e.label: e for e in endpoints()}
    plausible = Plausible()
    for name, value in [
        ("ResourceId", SERVICE_ID),
        ("Namespace", "AWS/ECS"),
        ("Namespace", "AWS/ApplicationELB"),
        ("MetricName", "CPUUtilization"),
        ("MetricName", "RequestCountPerTarget"),
        ("DimensionName", "ClusterName"),
        ("DimensionName", "ServiceName"),
        ("Name", "ClusterName"),
        ("Value", "default"),
        ("Value", "web"),
        ("family", "web"),
        ("taskDefinition", "web:1"),
        ("familyPrefix", "web"),
        ("principalArn", "arn:aws:iam::000000000000:root"),
        ("status", "RUNNING"),
        ("containerName", "web"),
    ]:
        plausible.add(name, value)
    found: dict[str, str] = {}
    failures: list[str] = []
    for index in range(len(_seed_calls(found))):
        label, action, params = _seed_calls(found)[index]
        endpoint = by_label[label]
        if action not in endpoint.handlers:
            continue
        answer = wire.call(endpoint, action, params)
        plausible.learn(params)
        if answer.status != 200:
            failures.append(f"{label} {action}: {answer.status} {answer.text()[:300]}")
            continue
        result = parse(endpoint, action, answer)
        result.pop("ResponseMetadata", None)
        plausible.learn(result)
        _remember(result, found, "StepPolicyARN" if params.get("PolicyName") == "step" else "")
    wire.mark_baseline()
    return Seeded(plausible, failures)


def _remember(document: Any, found: dict[str, str], policy_key: str) -> None:
    if isinstance(document, Mapping):
        for key, value in document.items():
            if isinstance(value, str) and key.endswith(("Arn", "ARN")):
                found.setdefault(key, value)
                if policy_key and key == "PolicyARN":
                    found[policy_key] = value
            else:
                _remember(value, found, policy_key)
    elif isinstance(document, list):
        for item in document:
            _remember(item, found, policy_key)
