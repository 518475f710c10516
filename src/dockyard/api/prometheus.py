"""GET /metrics: the server in Prometheus's text format (prometheus-client).

    metrics/instruments.REGISTRY   API requests + latency per service/action, placement
                                   and service-reconcile durations (histograms)
    ScrapeCollector (per scrape)   tasks by cluster/service/status (TASK_COUNTS: kept in
                                   memory where tasks move, never a task scan), desired /
                                   running / pending per service (one read of the services
                                   table: rows grow with services, not tasks), agent
                                   connections, and the latest AWS/ECS and AWS/ApplicationELB
                                   figures (metrics/latest.LatestMetrics)

AWS metrics map to Prometheus conventions: percents, seconds and host counts are gauges
of the last ~30 s average; request and response-code counts are counters (`_total`,
summed since the server started) so that `rate()` works across scrapes.
Like /health the endpoint is unauthenticated (Prometheus cannot sign SigV4); it exposes
names and counts, no secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dockyard.context import ApiContext
from dockyard.lifecycle import PENDING_STATUSES
from dockyard.metrics.instruments import REGISTRY, TASK_COUNTS
from dockyard.metrics.latest import LatestMetrics
from dockyard.store import Kind, Store
from dockyard.store.offload import off_loop

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LIVE_SERVICE = ["ACTIVE", "DRAINING"]
# AWS metric -> (Prometheus name, kind); kinds: "gauge" (average) or "counter" (sum).
AWS_METRICS = {
    ("AWS/ECS", "CPUUtilization"): ("dockyard_ecs_cpu_utilization_percent", "gauge"),
    ("AWS/ECS", "MemoryUtilization"): ("dockyard_ecs_memory_utilization_percent", "gauge"),
    ("AWS/ApplicationELB", "TargetResponseTime"): (
        "dockyard_alb_target_response_time_seconds",
        "gauge",
    ),
    ("AWS/ApplicationELB", "HealthyHostCount"): ("dockyard_alb_healthy_hosts", "gauge"),
    ("AWS/ApplicationELB", "UnHealthyHostCount"): ("dockyard_alb_unhealthy_hosts", "gauge"),
    ("AWS/ApplicationELB", "RequestCountPerTarget"): (
        "dockyard_alb_requests_per_target",
        "counter",
    ),
    ("AWS/ApplicationELB", "RequestCount"): ("dockyard_alb_requests", "counter"),
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"): ("dockyard_alb_elb_5xx", "counter"),
}
LABELS = {  # namespace -> (dimension, label) in order
    "AWS/ECS": (("ClusterName", "cluster"), ("ServiceName", "service")),
    "AWS/ApplicationELB": (("LoadBalancer", "load_balancer"), ("TargetGroup", "target_group")),
}
TARGET_CODE = re.compile(r"HTTPCode_Target_(\dXX)_Count")


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _service(group: str) -> str:
    return group.removeprefix("service:") if group.startswith("service:") else ""


class ScrapeCollector(Collector):
    """State read at scrape time (cheap reads only: see the module docstring)."""

    def __init__(
        self,
        ctx: ApiContext,
        connections: Callable[[], int],
        latest: LatestMetrics | None,
    ) -> None:
        self.ctx = ctx
        self.connections = connections
        self.latest = latest

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "dockyard_tasks",
            "Tasks that are not STOPPED, by cluster, service (empty: not a service's) and "
            "lastStatus.",
            labels=["cluster", "service", "group", "status"],
        )
        for (cluster, group, status), count in sorted(TASK_COUNTS.snapshot().items()):
            tasks.add_metric([_name(cluster), _service(group), group, status], count)
        yield tasks
        yield from self._services()
        agents = GaugeMetricFamily(
            "dockyard_agent_connections", "Agents connected to this server now."
        )
        agents.add_metric([], self.connections())
        yield agents
        if self.latest is not None:
            yield from aws_families(self.latest, self.ctx.now())

    def _services(self) -> Iterator[Metric]:
        names = ("desired", "running", "pending")
        families = {
            n: GaugeMetricFamily(
                f"dockyard_service_{n}_tasks",
                f"{n.capitalize()} tasks of each service (desired: desiredCount; running and "
                "pending: by lastStatus, from the live task counts).",
                labels=["cluster", "service"],
            )
            for n in names
        }
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for (cluster, group, status), count in TASK_COUNTS.snapshot().items():
            kind = (
                "running"
                if status == "RUNNING"
                else "pending"
                if status in PENDING_STATUSES
                else None
            )
            if kind is not None and group.startswith("service:"):
                by = counts.setdefault((cluster, group), {"running": 0, "pending": 0})
                by[kind] += count
        with self.ctx.store.read() as tx:
            services = tx.find(Kind.SERVICE, {"status": LIVE_SERVICE})
        for service in services:
            cluster, name = service.get("clusterArn", ""), service.get("serviceName", "")
            labels = [_name(cluster), name]
            live = counts.get((cluster, f"service:{name}"), {})
            families["desired"].add_metric(labels, float(service.get("desiredCount", 0)))
            families["running"].add_metric(labels, live.get("running", 0))
            families["pending"].add_metric(labels, live.get("pending", 0))
        yield from families.values()


def aws_families(latest: LatestMetrics, now: float) -> Iterator[Metric]:
    """The latest AWS/ECS and AWS/ApplicationELB figures, one family per metric."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    latest.forget_before(now)
    for key, stats in sorted(latest.snapshot(now).items()):
        code = TARGET_CODE.fullmatch(key.name)
        spec = AWS_METRICS.get((key.namespace, key.name))
        if code is not None and key.namespace == "AWS/ApplicationELB":
            spec = ("dockyard_alb_target_responses", "counter")
        if spec is None:
            continue
        name, kind = spec
        dims = dict(key.dimensions)
        labels = [label for _, label in LABELS[key.namespace]]
        values = [dims.get(dimension, "") for dimension, _ in LABELS[key.namespace]]
        if code is not None:
            labels, values = [*labels, "code"], [*values, code.group(1)]
        family = families.get(name)
        if family is None:
            help_text = f"{key.namespace} {key.name if code is None else 'HTTPCode_Target_*'}"
            if kind == "gauge":
                family = GaugeMetricFamily(name, help_text + " (last ~30 s).", labels=labels)
            else:
                family = CounterMetricFamily(name, help_text + " (since start).", labels=labels)
            families[name] = family
        value = stats.average if kind == "gauge" else latest.total(key)
        family.add_metric(values, value)
    yield from families.values()


def seed_task_counts(store: Store) -> None:
    """One grouped count of live tasks at start (an indexed-free scan, once)."""
    from sqlalchemy import func, select

    from dockyard.store.schema import tasks
    from dockyard.store.sql import SqlStore

    if not isinstance(store, SqlStore):
        return
    query = (
        select(tasks.c.cluster, tasks.c.task_group, tasks.c.last_status, func.count())
        .where(tasks.c.last_status != "STOPPED")
        .group_by(tasks.c.cluster, tasks.c.task_group, tasks.c.last_status)
    )
    with store.engine.connect() as conn:
        rows: list[Any] = list(conn.execute(query))
    TASK_COUNTS.load((str(c), g, str(s), int(n)) for c, g, s, n in rows)


def make_handler(
    ctx: ApiContext, connections: Callable[[], int], latest: LatestMetrics | None
) -> Callable[[web.Request], Any]:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeCollector(ctx, connections, latest))

    def collect() -> bytes:  # the scrape collector reads the store
        return generate_latest(REGISTRY) + generate_latest(scrape)

    async def handler(_request: web.Request) -> web.Response:
        body = await off_loop(ctx.store, collect)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handler
