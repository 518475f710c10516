"""AWS/ApplicationELB metrics from HAProxy's counters: pure functions of `show stat` texts.

    show stat (every 10 s) -> parse_counters -> CounterTracker.advance (per-interval deltas)
    LbModel               -> alb_names (frontend -> LoadBalancer, backend -> TargetGroup)
    deltas + names        -> alb_samples -> [(MetricKey, timestamp, StatisticSet, unit)]

Mapping (names from `lb/render.py`): frontend `lb-<name>-<port>` is a listener of load
balancer `app/<name>/<id>` (from the listener's ARN); backend `tg-<name>` is target group
`targetgroup/<name>/<id>` (its ARN), forwarded to by the listeners that name it (an ALB
target group belongs to one load balancer). Network load balancers (TCP/TLS listeners and
target groups) are left out: their metrics would be AWS/NetworkELB, which is not emitted.

    RequestCount             frontend req_tot (LoadBalancer); backend req_tot (TargetGroup,
                             LoadBalancer+TargetGroup)
    HTTPCode_Target_2XX/3XX/4XX  backend hrsp_* (HAProxy generates no 2xx-4xx in a backend)
    HTTPCode_Target_5XX      the servers' hrsp_5xx: a backend's own count includes the 503
                             HAProxy answers itself when no server is up, which ALB counts
                             as the load balancer's
    HTTPCode_ELB_5XX_Count   frontend hrsp_5xx minus its targets' 5xx (fixed responses,
                             no healthy target, gateway errors)
    TargetResponseTime       backend `rtime`: HAProxy's average time to response headers
                             over the last 1024 requests (ALB's definition: request sent to
                             headers received). Weighted by the interval's requests; HAProxy
                             keeps no per-interval sum, so under light traffic it lags.
    RequestCountPerTarget    TargetGroup requests / healthy targets (all serving targets when
                             none is healthy); use the Sum statistic, as on AWS
    HealthyHostCount, UnHealthyHostCount   targets by stored health (DescribeTargetHealth)

Counter resets: a reload starts a new worker whose counters begin at zero, so a new
worker pid (or a counter that went down, or a new row) counts the current value as the
interval's delta. RequestCount and RequestCountPerTarget are emitted as 0 when idle
(AWS omits them) so that target tracking can scale in after a load stops.
Neighbours: `controller.py` (reads the counters, calls these), `metrics/latest.MetricsSink`.
Lives in lb/ (not metrics/) because it reads the LB model: metrics/ imports no lb.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockyard.arns import parse_arn
from dockyard.lb.model import Action, LbModel, Target, backend_name
from dockyard.metrics.model import MetricKey, StatisticSet
from dockyard.metrics.store import Sample

NAMESPACE = "AWS/ApplicationELB"
COUNTERS = ("req_tot", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx")
FRONTEND, BACKEND, SERVER = "0", "1", "2"
Counters = dict[str, int]
RowKey = tuple[str, str]


@dataclass(frozen=True)
class ProxyRow:
    """One row of `show stat`: a frontend, backend or server, with its counters."""

    proxy: str
    name: str
    type: str
    counters: Mapping[str, int]
    rtime_ms: float | None = None


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def parse_counters(text: str) -> dict[RowKey, ProxyRow]:
    """Rows of `show stat` CSV (the text may start with `show info` lines)."""
    start = text.find("# pxname")
    if start < 0:
        return {}
    lines = [line for line in text[start + 2 :].splitlines() if line.strip()]
    rows = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        rtime = row.get("rtime") or ""
        rows[row["pxname"], row["svname"]] = ProxyRow(
            proxy=row["pxname"],
            name=row["svname"],
            type=row.get("type", ""),
            counters={name: _int(row.get(name)) for name in COUNTERS},
            rtime_ms=float(rtime) if rtime.strip() else None,
        )
    return rows


def worker_pid(text: str) -> int | None:
    """The `Pid:` line of `show info`: a new one means a reload (counters restarted)."""
    for line in text.splitlines():
        if line.startswith("Pid:"):
            return _int(line.split(":", 1)[1].strip())
    return None


@dataclass
class CounterTracker:
    """Turns cumulative counters into per-interval deltas across reloads."""

    previous: dict[RowKey, Mapping[str, int]] | None = None
    generation: int | None = None

    def advance(
        self, rows: Mapping[RowKey, ProxyRow], generation: int | None
    ) -> dict[RowKey, Counters] | None:
        """Deltas since the last call; None on the first (a baseline: HAProxy may have
        been counting long before this server started)."""
        previous, restarted = self.previous, generation != self.generation
        self.previous = {key: row.counters for key, row in rows.items()}
        self.generation = generation
        if previous is None:
            return None
        deltas: dict[RowKey, Counters] = {}
        for key, row in rows.items():
            before = None if restarted else previous.get(key)
            deltas[key] = {
                name: value - before[name]
                if before is not None and value >= before.get(name, 0)
                else value
                for name, value in row.counters.items()
            }
        return deltas


def load_balancer_dimension(listener_arn: str) -> str | None:
    """`app/<name>/<id>` from a listener's (or load balancer's) ARN."""
    arn = parse_arn(listener_arn)
    if arn is None:
        return None
    parts = arn.resource.split("/")
    return "/".join(parts[1:4]) if len(parts) >= 4 else None


def target_group_dimension(group_arn: str) -> str | None:
    """`targetgroup/<name>/<id>` from a target group's ARN."""
    arn = parse_arn(group_arn)
    return arn.resource if arn is not None else None


@dataclass(frozen=True)
class TargetCounts:
    healthy: int = 0
    unhealthy: int = 0
    serving: int = 0  # registered, not draining


@dataclass(frozen=True)
class AlbNames:
    frontends: Mapping[str, str] = field(default_factory=dict)  # frontend -> LoadBalancer
    backends: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    targets: Mapping[str, TargetCounts] = field(default_factory=dict)  # by backend


def _actions(model: LbModel) -> Iterable[tuple[str, Action | None]]:
    for listener in model.listeners:
        yield listener.arn, listener.default_action
        for rule in listener.rules:
            yield listener.arn, rule.action


def alb_names(model: LbModel) -> AlbNames:
    """How HAProxy's proxy names map back to AWS dimension values."""
    frontends = {}
    for listener in model.listeners:
        balancer = load_balancer_dimension(listener.arn)
        if balancer is not None and not listener.tcp:  # NLBs: not AWS/ApplicationELB
            frontends[f"lb-{listener.lb_name}-{listener.port}"] = balancer  # as render.py
    owner: dict[str, str] = {}
    for listener_arn, action in _actions(model):
        balancer = load_balancer_dimension(listener_arn)
        for group_arn, _weight in action.groups if action is not None else ():
            if balancer is not None:
                owner.setdefault(group_arn, balancer)
    by_group: dict[str, list[Target]] = defaultdict(list)
    for target in model.targets:
        by_group[target.group].append(target)
    backends: dict[str, tuple[str, str | None]] = {}
    targets: dict[str, TargetCounts] = {}
    for group in model.target_groups:
        dimension = target_group_dimension(group.arn)
        if dimension is None or not group.in_use or group.tcp:
            continue
        name = backend_name(group)
        backends[name] = (dimension, owner.get(group.arn))
        mine = by_group.get(group.arn, [])
        targets[name] = TargetCounts(
            healthy=sum(t.state == "healthy" for t in mine),
            unhealthy=sum(t.state == "unhealthy" for t in mine),
            serving=sum(not t.draining for t in mine),
        )
    return AlbNames(frontends, backends, targets)


class _Out:
    """Collects samples, merging repeats of the same metric (several listeners of one LB)."""

    def __init__(self, timestamp: float) -> None:
        self.timestamp = timestamp
        self.stats: dict[tuple[MetricKey, str], StatisticSet] = {}

    def add(self, name: str, dims: Mapping[str, str | None], value: float, unit: str) -> None:
        self.merge(name, dims, StatisticSet.of(value), unit)

    def merge(
        self, name: str, dims: Mapping[str, str | None], stats: StatisticSet, unit: str
    ) -> None:
        if any(v is None for v in dims.values()):
            return
        key = MetricKey.of(NAMESPACE, name, {k: v for k, v in dims.items() if v is not None})
        self.stats.setdefault((key, unit), StatisticSet()).merge(stats)

    def samples(self) -> list[Sample]:
        return [(key, self.timestamp, s, unit) for (key, unit), s in sorted(self.stats.items())]


def alb_samples(
    names: AlbNames,
    rows: Mapping[RowKey, ProxyRow],
    deltas: Mapping[RowKey, Mapping[str, int]],
    timestamp: float,
) -> list[Sample]:
    """One interval's AWS/ApplicationELB samples (see the module docstring)."""
    out = _Out(timestamp)
    target_5xx: dict[str, int] = defaultdict(int)  # backend -> its servers' 5xx
    for (proxy, name), server in rows.items():
        if server.type == SERVER:
            target_5xx[proxy] += deltas.get((proxy, name), {}).get("hrsp_5xx", 0)
    balancer_5xx: dict[str, int] = defaultdict(int)
    for backend, (group, balancer) in names.backends.items():
        row, delta = rows.get((backend, "BACKEND")), deltas.get((backend, "BACKEND"), {})
        requests = delta.get("req_tot", 0)
        counts = names.targets.get(backend, TargetCounts())
        both = {"LoadBalancer": balancer, "TargetGroup": group}
        for dims in ({"TargetGroup": group}, both):
            out.add("RequestCount", dims, requests, "Count")
        divisor = counts.healthy or counts.serving
        if divisor:
            for dims in ({"TargetGroup": group}, both):
                out.add("RequestCountPerTarget", dims, requests / divisor, "Count")
        out.add("HealthyHostCount", both, counts.healthy, "Count")
        out.add("UnHealthyHostCount", both, counts.unhealthy, "Count")
        codes = {
            "HTTPCode_Target_2XX_Count": delta.get("hrsp_2xx", 0),
            "HTTPCode_Target_3XX_Count": delta.get("hrsp_3xx", 0),
            "HTTPCode_Target_4XX_Count": delta.get("hrsp_4xx", 0),
            "HTTPCode_Target_5XX_Count": target_5xx.get(backend, 0),
        }
        if balancer is not None:
            balancer_5xx[balancer] += codes["HTTPCode_Target_5XX_Count"]
        for metric, count in codes.items():
            if count > 0:
                for dims in ({"LoadBalancer": balancer}, both):
                    out.add(metric, dims, count, "Count")
        if requests > 0 and row is not None and row.rtime_ms is not None:
            seconds = row.rtime_ms / 1000
            stats = StatisticSet(requests, seconds * requests, seconds, seconds)
            for dims in ({"LoadBalancer": balancer}, both):
                out.merge("TargetResponseTime", dims, stats, "Seconds")
    frontend_5xx: dict[str, int] = defaultdict(int)
    for frontend, balancer in names.frontends.items():
        delta = deltas.get((frontend, "FRONTEND"), {})
        out.add("RequestCount", {"LoadBalancer": balancer}, delta.get("req_tot", 0), "Count")
        frontend_5xx[balancer] += delta.get("hrsp_5xx", 0)
    for balancer, count in frontend_5xx.items():
        generated = count - balancer_5xx.get(balancer, 0)
        if generated > 0:
            out.add("HTTPCode_ELB_5XX_Count", {"LoadBalancer": balancer}, generated, "Count")
    return out.samples()
