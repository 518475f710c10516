"""Metrics, alarms and scaling benchmark: agent metrics ingestion at scale, alarm -> decision.

    .venv/bin/python bench/metrics.py                 # 5,000 instances x 20 tasks, ~6-8 min
    .venv/bin/python bench/metrics.py --quick         # 500 instances, < 2 min
    .venv/bin/python bench/metrics.py --instances 2000 --intervals 3 --json out.json

1. Ingestion. N container instances are registered (raw RegisterContainerInstance,
   concurrently) and N agent websockets opened from this process (one asyncio loop,
   the real protocol: /agent/ws?cluster=&containerInstance=, a "state" resync, ping/pong).
   Then an idle window (heartbeats only) and a metrics window of the same length: every
   10 s each instance sends the real pre-aggregated message (4 services x 5 tasks: one
   StatisticSet per service for CPU and memory, plus the instance's cluster figure),
   spread over the interval as unsynchronised agents would. Server CPU (from /proc)
   of the metrics window minus the idle one = the cost of ingestion; GetMetricStatistics
   must count every sample sent. DescribeServices/DescribeClusters latency is probed in
   both windows. Baseline in the same run: PutMetricData of the same kind of datapoints
   (StatisticValues) to moto and to Dockyard, interleaved; CPU per datapoint each.
2. Alarm -> decision. A service (tasks need not place) as a scalable target, a
   StepScaling policy (+1), and per round an alarm on its own custom high-resolution
   metric (Period 10, 1 of 1, Maximum > 50). Values below 50 are fed every second; at
   t0 the round's metric goes above; DescribeScalingActivities is polled every 0.2 s
   until the activity naming the alarm appears. Target: decision - t0 <= period + 5 s.
   Repeated with --extra-alarms more alarms (other metrics, Period 10): server CPU per
   evaluation round and latency must stay flat.

Loopback only, every phase time-limited, servers stopped and temp dirs removed on exit,
errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import resource
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from _servers import (
    ECS_TARGET_PREFIX,
    JSON_11,
    ServerProcess,
    ServerSet,
    dockyard_server,
    install_signal_handlers,
    moto_server,
)
from agents_scale import BenchError, LagProbe

REGION = "us-east-1"
INTERVAL_S = 10.0  # the agent's metrics interval
SERVICES, TASKS_PER_SERVICE = 4, 5
THRESHOLD, LOW, HIGH = 50.0, 10.0, 90.0
FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20250101/us-east-1/ecs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def client(service: str, endpoint: str, pool: int = 10) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=60, max_pool_connections=pool),
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else math.nan


def cpu(server: ServerProcess) -> float:
    value = server.cpu_seconds()
    if value is None:
        raise BenchError(f"{server.name} has no CPU figure (exited?)\n{server.log_tail()}")
    return value


def raise_fd_limit(wanted: int) -> int:
    """Sockets for N agents here and N in the server (which inherits this limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- phase 1: ingestion --------------------------------------------------------------------------
def metrics_message(cluster: str, rng: random.Random) -> str:
    """What agent/metrics.py sends for one instance: per-service StatisticSets of per-task
    utilisation ([count, sum, min, max]) and the instance's cluster figure."""

    def stats(values: list[float]) -> list[float]:
        return [len(values), round(sum(values), 6), round(min(values), 6), round(max(values), 6)]

    groups: list[dict[str, Any]] = []
    for s in range(SERVICES):
        cpu_values = [rng.uniform(20, 60) for _ in range(TASKS_PER_SERVICE)]
        memory_values = [rng.uniform(30, 50) for _ in range(TASKS_PER_SERVICE)]
        groups.append(
            {
                "cluster": cluster,
                "service": f"svc-{s}",
                "cpu": stats(cpu_values),
                "memory": stats(memory_values),
            }
        )
    groups.append(
        {"cluster": cluster, "cpu": stats([rng.uniform(20, 60)]), "memory": [1, 40, 40, 40]}
    )
    return json.dumps({"type": "metrics", "timestamp": round(time.time(), 3), "groups": groups})


SAMPLES_PER_MESSAGE = 2 * (SERVICES + 1)  # StatisticSets the server stores per message
VALUES_PER_MESSAGE = 2 * (SERVICES * TASKS_PER_SERVICE + 1)  # per-task figures they summarise


class LatencyProbe(threading.Thread):
    """DescribeServices / DescribeClusters every 0.2 s on its own boto3 client (a thread, so
    the simulated agents' loop does not delay the clock it is read with)."""

    def __init__(self, endpoint: str, cluster: str, service: str) -> None:
        super().__init__(daemon=True)
        self.ecs = client("ecs", endpoint)
        self.cluster, self.service = cluster, service
        self.window: str | None = None
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        calls: list[tuple[str, Callable[[], Any]]] = [
            (
                "DescribeServices",
                lambda: self.ecs.describe_services(cluster=self.cluster, services=[self.service]),
            ),
            ("DescribeClusters", lambda: self.ecs.describe_clusters(clusters=[self.cluster])),
        ]
        n = 0
        while not self.halt.wait(0.2):
            window = self.window
            if window is None:
                continue
            name, call = calls[n % 2]
            n += 1
            before = time.perf_counter()
            call()
            elapsed = time.perf_counter() - before
            if self.window == window:
                self.samples.setdefault(window, {}).setdefault(name, []).append(elapsed)

    def summary(self, window: str) -> dict[str, dict[str, float]]:
        out = {}
        for name, values in sorted(self.samples.get(window, {}).items()):
            out[name] = {
                "calls": len(values),
                "p50_ms": 1000 * statistics.median(values),
                "p99_ms": 1000 * pct(values, 0.99),
            }
        return out


class Agents:
    """N simulated agents: registered instances and their websockets, in this loop."""

    def __init__(self, endpoint: str, cluster: str, n: int, session: Any) -> None:
        self.endpoint, self.cluster, self.n, self.session = endpoint, cluster, n, session
        self.arns: list[str] = []
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.desired_messages = 0
        self.dropped = 0  # metrics messages not sent: the websocket was closed

    async def _post(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "X-Amz-Target": f"{ECS_TARGET_PREFIX}.{action}",
            "Content-Type": JSON_11,
            "X-Amz-Date": "20250101T000000Z",
            "Authorization": FAKE_AUTH,
        }
        async with self.session.post(
            self.endpoint + "/", data=json.dumps(params), headers=headers
        ) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 200:
                raise BenchError(f"{action}: {answer.status} {body}")
            return dict(body)

    async def register(self, concurrency: int = 32) -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with slots:
                answer = await self._post(
                    "RegisterContainerInstance",
                    {
                        "cluster": self.cluster,
                        "totalResources": [
                            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
                        ],
                        "instanceIdentityDocument": json.dumps({"instanceId": f"i-{i:017x}"}),
                    },
                )
                return str(answer["containerInstance"]["containerInstanceArn"])

        self.arns = list(await asyncio.gather(*(one(i) for i in range(self.n))))

    async def connect(self, concurrency: int = 64) -> None:
        from aiohttp import WSMsgType

        from dockyard.wire.agent import HEARTBEAT_S, WS_PATH

        slots = asyncio.Semaphore(concurrency)
        url = self.endpoint.replace("http://", "ws://") + WS_PATH

        async def read(ws: Any) -> None:
            async for message in ws:  # reading answers the server's pings
                if message.type == WSMsgType.TEXT and '"desired"' in message.data[:40]:
                    self.desired_messages += 1

        async def one(arn: str) -> Any:
            async with slots:
                ws = await self.session.ws_connect(
                    url,
                    params={"cluster": self.cluster, "containerInstance": arn},
                    heartbeat=HEARTBEAT_S,
                )
                await ws.send_str(json.dumps({"type": "state", "tasks": []}))  # the resync
                self.readers.append(asyncio.create_task(read(ws)))
                return ws

        self.sockets = list(await asyncio.gather(*(one(arn) for arn in self.arns)))

    async def send_metrics(self, intervals: int, rng: random.Random) -> tuple[int, float, float]:
        """`intervals` x one message per instance, each interval's sends spread evenly over
        it in 100 slices; returns (messages, first send, last send)."""
        sent = 0
        slices = 100
        start = time.monotonic()
        first = time.time()
        for k in range(intervals):
            for s in range(slices):
                at = start + k * INTERVAL_S + s * INTERVAL_S / slices
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                for i in range(s * self.n // slices, (s + 1) * self.n // slices):
                    ws = self.sockets[i]
                    if ws.closed:  # closed by a heartbeat timeout: counted, not retried
                        self.dropped += 1
                        continue
                    try:
                        await ws.send_str(metrics_message(self.cluster, rng))
                    except (ConnectionError, aiohttp.ClientError):
                        self.dropped += 1
                        continue
                    sent += 1
        return sent, first, time.time()

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True), 20
            )
        self.sockets, self.readers = [], []


def sample_counts(cw: Any, cluster: str, start: float, end: float) -> dict[str, float]:
    """SampleCount the server holds over [start, end] per checked metric."""
    out = {}
    begin = math.floor(start / 60) * 60
    finish = math.ceil((end + 1) / 60) * 60
    checks = [(f"svc-{s}", [{"Name": "ServiceName", "Value": f"svc-{s}"}]) for s in range(SERVICES)]
    checks.append(("cluster", []))
    for metric in ("CPUUtilization", "MemoryUtilization"):
        for label, extra in checks:
            answer = cw.get_metric_statistics(
                Namespace="AWS/ECS",
                MetricName=metric,
                Dimensions=[{"Name": "ClusterName", "Value": cluster}, *extra],
                StartTime=datetime.fromtimestamp(begin, UTC),
                EndTime=datetime.fromtimestamp(finish, UTC),
                Period=60,
                Statistics=["SampleCount"],
            )
            out[f"{metric}/{label}"] = sum(p["SampleCount"] for p in answer["Datapoints"])
    return out


def put_metric_batches(calls: int, per_call: int, tag: str) -> Iterator[list[dict[str, Any]]]:
    """PutMetricData batches like an agent's: StatisticValues per (cluster, service)."""
    rng = random.Random(7)
    for c in range(calls):
        batch = []
        for d in range(per_call):
            values = [rng.uniform(20, 60) for _ in range(TASKS_PER_SERVICE)]
            batch.append(
                {
                    "MetricName": "CPUUtilization" if d % 2 == 0 else "MemoryUtilization",
                    "Dimensions": [
                        {"Name": "ClusterName", "Value": f"bench-{tag}-{c % 50}"},
                        {"Name": "ServiceName", "Value": f"svc-{d // 2}"},
                    ],
                    "Timestamp": datetime.now(UTC),
                    "StatisticValues": {
                        "SampleCount": float(len(values)),
                        "Sum": sum(values),
                        "Minimum": min(values),
                        "Maximum": max(values),
                    },
                    "Unit": "Percent",
                }
            )
        yield batch


def baseline(
    servers: dict[str, ServerProcess], calls: int, per_call: int, until: float
) -> dict[str, Any]:
    """PutMetricData of the same datapoints to each server, in blocks of 20 calls in rotation."""
    clients = {name: client("cloudwatch", s.endpoint) for name, s in servers.items()}
    for cw in clients.values():  # warm-up (not counted)
        cw.put_metric_data(Namespace="Bench/Warmup", MetricData=[{"MetricName": "w", "Value": 1.0}])
    batches = list(put_metric_batches(calls, per_call, uuid.uuid4().hex[:6]))
    used = dict.fromkeys(servers, 0.0)
    wall = dict.fromkeys(servers, 0.0)
    done = dict.fromkeys(servers, 0)
    for block in range(0, calls, 20):
        if time.monotonic() > until:
            break
        order = list(servers) if (block // 20) % 2 == 0 else list(reversed(servers))
        for name in order:
            before_cpu, before = cpu(servers[name]), time.perf_counter()
            for batch in batches[block : block + 20]:
                clients[name].put_metric_data(Namespace="Bench/Ingest", MetricData=batch)
                done[name] += 1
            wall[name] += time.perf_counter() - before
            used[name] += cpu(servers[name]) - before_cpu
    return {
        name: {
            "calls": done[name],
            "datapoints": done[name] * per_call,
            "cpu_us_per_datapoint": 1e6 * used[name] / max(1, done[name] * per_call),
            "calls_per_s": done[name] / wall[name] if wall[name] else 0.0,
        }
        for name in servers
    }


async def ingestion(
    args: argparse.Namespace, dy: ServerProcess, moto: ServerProcess, tag: str
) -> dict[str, Any]:
    deadline = time.monotonic() + args.phase_limit
    ecs = client("ecs", dy.endpoint)
    cw = client("cloudwatch", dy.endpoint)
    cluster = f"bench-metrics-{tag}"
    await asyncio.to_thread(ecs.create_cluster, clusterName=cluster)
    family = f"bench-metrics-{tag}"
    await asyncio.to_thread(
        ecs.register_task_definition,
        family=family,
        containerDefinitions=[
            {"name": "web", "image": "dockyard-demo/web:1", "memory": 64, "cpu": 128}
        ],
    )
    await asyncio.to_thread(
        ecs.create_service,
        cluster=cluster,
        serviceName="probe",
        taskDefinition=family,
        desiredCount=0,
    )
    out: dict[str, Any] = {
        "instances": args.instances,
        "intervals": args.intervals,
        "cluster": cluster,
    }
    # Baseline first, on the fresh server (no instances, no connections yet).
    out["baseline"] = await asyncio.to_thread(
        baseline, {"moto": moto, "dockyard": dy}, args.baseline_calls, 20, deadline
    )
    lag = LagProbe()
    lag.start()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    probe = LatencyProbe(dy.endpoint, cluster, "probe")
    probe.start()
    async with aiohttp.ClientSession(connector=connector) as session:
        agents = Agents(dy.endpoint, cluster, args.instances, session)
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(agents.register(), max(1.0, deadline - t0))
            t1 = time.monotonic()
            await asyncio.wait_for(agents.connect(), max(1.0, deadline - t1))
            t2 = time.monotonic()
            out["register_s"], out["connect_s"] = t1 - t0, t2 - t1
            print(
                f"  {args.instances} instances registered in {t1 - t0:.1f} s "
                f"({args.instances / (t1 - t0):.0f}/s), websockets open in {t2 - t1:.1f} s "
                f"({args.instances / (t2 - t1):.0f}/s)"
            )
            await asyncio.sleep(2.0)  # let the connection burst (desired sets, resyncs) settle
            if time.monotonic() + 2 * args.intervals * INTERVAL_S + 30 > deadline:
                raise BenchError("--phase-limit too short for the idle and metrics windows")

            # Idle and metrics slices of one interval each, alternating (idle first): the
            # server's background work (heartbeats, controllers) and the machine's other load
            # hit both alike; ingestion = metrics slices' CPU - idle slices' CPU.
            lag.take()
            idle_cpu = idle_wall = metrics_cpu = metrics_wall = 0.0
            idle_lags: list[dict[str, float]] = []
            metrics_lags: list[dict[str, float]] = []
            sent, first, last = 0, math.inf, 0.0
            rng = random.Random(1)
            for _ in range(args.intervals):
                probe.window = "idle"
                c0, w0 = cpu(dy), time.monotonic()
                await asyncio.sleep(INTERVAL_S)
                idle_cpu += cpu(dy) - c0
                idle_wall += time.monotonic() - w0
                idle_lags.append(lag.take())
                probe.window = "metrics"
                c0, w0 = cpu(dy), time.monotonic()
                count, began, ended = await agents.send_metrics(1, rng)
                sent, first, last = sent + count, min(first, began), max(last, ended)
                remaining = INTERVAL_S - (time.monotonic() - w0)
                if remaining > 0:
                    await asyncio.sleep(remaining)
                metrics_cpu += cpu(dy) - c0
                metrics_wall += time.monotonic() - w0
                metrics_lags.append(lag.take())
            probe.window = None
            idle_lag = max(idle_lags, key=lambda x: x.get("loop_lag_max_ms", 0))
            metrics_lag = max(metrics_lags, key=lambda x: x.get("loop_lag_max_ms", 0))

            # every sample arrived? (the server may still be reading its socket buffers)
            expected_sets = sent * TASKS_PER_SERVICE  # per service metric: 5 tasks per message
            counts: dict[str, float] = {}
            arrived_after = math.nan
            while time.monotonic() < deadline:
                counts = await asyncio.to_thread(sample_counts, cw, cluster, first, last)
                ok = all(
                    v == (sent if k.endswith("/cluster") else expected_sets)
                    for k, v in counts.items()
                )
                if ok:
                    arrived_after = time.time() - last
                    break
                await asyncio.sleep(0.5)
            extra_cpu = metrics_cpu - idle_cpu * metrics_wall / idle_wall
            out.update(
                {
                    "messages": sent,
                    "samples": sent * SAMPLES_PER_MESSAGE,
                    "task_values": sent * VALUES_PER_MESSAGE,
                    "send_s": last - first,
                    "messages_per_s": sent / metrics_wall,
                    "samples_per_s": sent * SAMPLES_PER_MESSAGE / metrics_wall,
                    "idle_cpu_s": idle_cpu,
                    "idle_wall_s": idle_wall,
                    "metrics_cpu_s": metrics_cpu,
                    "metrics_wall_s": metrics_wall,
                    "ingest_cpu_s": extra_cpu,
                    "ingest_cpu_s_per_min": extra_cpu * 60 / metrics_wall,
                    "idle_cpu_s_per_min": idle_cpu * 60 / idle_wall,
                    "cpu_us_per_message": 1e6 * extra_cpu / sent,
                    "cpu_us_per_sample": 1e6 * extra_cpu / (sent * SAMPLES_PER_MESSAGE),
                    "counts": counts,
                    "expected_per_service": expected_sets,
                    "expected_cluster": sent,
                    "verified": not math.isnan(arrived_after),
                    "all_counted_s_after_last_send": arrived_after,
                    "latency_idle": probe.summary("idle"),
                    "latency_metrics": probe.summary("metrics"),
                    "bench_lag_idle": idle_lag,
                    "bench_lag_metrics": metrics_lag,
                    "desired_messages": agents.desired_messages,
                    "dropped_messages": agents.dropped,
                    "closed_sockets": sum(1 for ws in agents.sockets if ws.closed),
                }
            )
        finally:
            probe.halt.set()
            if lag.task is not None:
                lag.task.cancel()
            await agents.close()
    return out


def report_ingestion(r: dict[str, Any]) -> None:
    print(
        f"  idle slices {r['idle_wall_s']:.0f} s (heartbeats only): server {r['idle_cpu_s']:.2f} CPU-s "
        f"= {r['idle_cpu_s_per_min']:.2f} CPU-s/min"
    )
    print(
        f"  metrics slices {r['metrics_wall_s']:.0f} s (alternating with the idle ones): {r['messages']:,} messages "
        f"({r['messages_per_s']:.0f}/s), {r['samples']:,} statistic sets ({r['samples_per_s']:.0f}/s) "
        f"summarising {r['task_values']:,} task figures; server {r['metrics_cpu_s']:.2f} CPU-s"
    )
    if r["ingest_cpu_s"] <= 0.05:
        print(
            "  NOTE: ingestion cost is within the noise of the idle slices (10 ms CPU ticks, "
            "background work): use more --instances or --intervals for a figure"
        )
        r = {**r, "cpu_us_per_message": math.nan, "cpu_us_per_sample": math.nan}
    capacity = 1e6 / r["cpu_us_per_message"] if r["cpu_us_per_message"] > 0 else math.nan
    print(
        f"  ingestion = metrics - idle: {r['ingest_cpu_s']:.2f} CPU-s -> "
        f"{r['ingest_cpu_s_per_min']:.2f} CPU-s per minute of metrics "
        f"({100 * r['ingest_cpu_s_per_min'] / 60:.1f} % of a core); "
        f"{r['cpu_us_per_message']:.0f} us/message, {r['cpu_us_per_sample']:.1f} us/statistic set "
        f"(one core would ingest ~{capacity:,.0f} messages/s = {capacity * INTERVAL_S:,.0f} instances)"
    )
    if r["dropped_messages"] or r["closed_sockets"]:
        print(
            f"  WARNING: {r['closed_sockets']} websockets closed during the run, "
            f"{r['dropped_messages']} messages not sent"
        )
    status = "OK" if r["verified"] else "MISMATCH"
    print(
        f"  GetMetricStatistics SampleCount: {status} (per service {r['expected_per_service']:,}, "
        f"cluster {r['expected_cluster']:,}; all counted {r['all_counted_s_after_last_send']:.1f} s "
        f"after the last send)"
    )
    if not r["verified"]:
        print(f"    counted: {r['counts']}")
    for name in ("DescribeServices", "DescribeClusters"):
        idle, busy = r["latency_idle"].get(name), r["latency_metrics"].get(name)
        if idle and busy:
            print(
                f"  {name}: idle p50 {idle['p50_ms']:.1f} ms p99 {idle['p99_ms']:.1f} ms "
                f"({idle['calls']}) | ingesting p50 {busy['p50_ms']:.1f} ms p99 {busy['p99_ms']:.1f} ms "
                f"({busy['calls']}) -> p50 x{busy['p50_ms'] / idle['p50_ms']:.2f}"
            )
    lag = r["bench_lag_metrics"]
    if lag:
        print(
            f"  this process's loop lag while sending: p50 {lag['loop_lag_p50_ms']:.1f} ms, max {lag['loop_lag_max_ms']:.0f} ms"
        )
    b = r["baseline"]
    moto, dyb = b["moto"], b["dockyard"]
    print(
        f"  baseline PutMetricData ({dyb['calls']} calls x 20 StatisticValues datapoints): "
        f"moto {moto['cpu_us_per_datapoint']:.0f} us/datapoint ({moto['calls_per_s']:.0f} calls/s), "
        f"Dockyard {dyb['cpu_us_per_datapoint']:.0f} us/datapoint ({dyb['calls_per_s']:.0f} calls/s)"
    )
    print(
        f"  ratios: Dockyard PutMetricData / moto x{dyb['cpu_us_per_datapoint'] / moto['cpu_us_per_datapoint']:.2f}; "
        f"agent path / moto x{r['cpu_us_per_sample'] / moto['cpu_us_per_datapoint']:.3f}; "
        f"agent path / Dockyard PutMetricData x{r['cpu_us_per_sample'] / dyb['cpu_us_per_datapoint']:.3f}"
    )


# -- phase 2: alarm -> decision --------------------------------------------------------------------
class Feeder(threading.Thread):
    """Every second, one PutMetricData with each live round metric's value (below or above)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.cw = client("cloudwatch", endpoint)
        self.values: dict[str, float] = {}  # Round dimension value -> current value
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def put(self, values: dict[str, float]) -> None:
        now = datetime.now(UTC)
        data = [
            {
                "MetricName": "Load",
                "Dimensions": [{"Name": "Round", "Value": name}],
                "Timestamp": now,
                "Value": value,
                "StorageResolution": 1,
            }
            for name, value in values.items()
        ]
        for start in range(0, len(data), 20):
            self.cw.put_metric_data(Namespace="Bench/Scale", MetricData=data[start : start + 20])

    def run(self) -> None:
        while not self.halt.wait(1.0):
            with self.lock:
                values = dict(self.values)
            if values:
                with contextlib.suppress(Exception):
                    self.put(values)


def period_end(t: float, period: float = 10.0) -> float:
    return math.floor(t / period) * period + period


def round_alarms(cw: Any, feeder: Feeder, label: str, rounds: int, policy_arn: str) -> list[str]:
    """One alarm per round, each on its own metric (dimension Round), fed below threshold."""
    names = [f"bench-round-{label}-{r}" for r in range(rounds)]
    for r, name in enumerate(names):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="Bench/Scale",
            MetricName="Load",
            Dimensions=[{"Name": "Round", "Value": f"{label}-{r}"}],
            Statistic="Maximum",
            Period=10,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=THRESHOLD,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[policy_arn],
        )
        with feeder.lock:
            feeder.values[f"{label}-{r}"] = LOW
    return names


def wait_ok(cw: Any, names: list[str], until: float) -> None:
    """Every round's alarm starts from OK (its metric below the threshold)."""
    while True:
        states: dict[str, str] = {}
        for start in range(0, len(names), 100):
            for alarm in cw.describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]:
                states[alarm["AlarmName"]] = alarm["StateValue"]
        if all(states.get(n) == "OK" for n in names):
            return
        if time.monotonic() > until:
            raise BenchError(f"alarms not OK in time: {states}")
        time.sleep(0.5)


def run_rounds(
    *,
    endpoint: str,
    dy: ServerProcess,
    feeder: Feeder,
    label: str,
    names: list[str],
    resource_id: str,
    until: float,
) -> dict[str, Any]:
    """Per round: the metric crosses at t0; poll until the activity naming the alarm."""
    cw = client("cloudwatch", endpoint)
    aas = client("application-autoscaling", endpoint)
    results: list[dict[str, float]] = []
    c0, w0 = cpu(dy), time.monotonic()
    for r, name in enumerate(names):
        if time.monotonic() > until:
            raise BenchError(f"time limit in round {r}")
        time.sleep(random.uniform(0, 2))  # vary t0's place in the period
        t0 = time.time()
        with feeder.lock:
            feeder.values[f"{label}-{r}"] = HIGH
        feeder.put({f"{label}-{r}": HIGH})
        marker = f"monitor alarm {name} in state ALARM"
        found = None
        limit = time.monotonic() + 60
        while found is None and time.monotonic() < min(limit, until):
            time.sleep(0.2)
            activities = aas.describe_scaling_activities(
                ServiceNamespace="ecs", ResourceId=resource_id
            )
            for activity in activities["ScalingActivities"]:
                if marker in activity.get("Cause", ""):
                    found = activity
        seen = time.time()
        if found is None:
            raise BenchError(f"no scaling activity for {name} within 60 s")
        decided = found["StartTime"].timestamp()
        results.append(
            {
                "t0_in_period_s": t0 - (period_end(t0) - 10),
                "decision_after_t0_s": decided - t0,
                "decision_after_period_end_s": decided - period_end(t0),
                "seen_after_t0_s": seen - t0,
            }
        )
        with feeder.lock:
            feeder.values.pop(f"{label}-{r}", None)
        cw.delete_alarms(AlarmNames=[name])
    wall = time.monotonic() - w0
    used = cpu(dy) - c0
    after_t0 = [x["decision_after_t0_s"] for x in results]
    after_end = [x["decision_after_period_end_s"] for x in results]
    return {
        "rounds": results,
        "after_t0_median_s": statistics.median(after_t0),
        "after_t0_max_s": max(after_t0),
        "after_period_end_median_s": statistics.median(after_end),
        "after_period_end_max_s": max(after_end),
        "server_cpu_s": used,
        "wall_s": wall,
        "server_cpu_per_10s": used * 10 / wall,
    }


def extra_alarms(endpoint: str, n: int, create: bool) -> None:
    """N alarms on other metrics (no actions), Period 10: evaluated every 10 s."""
    cw = client("cloudwatch", endpoint)
    names = [f"bench-other-{k}" for k in range(n)]
    if not create:  # only those that exist (creation may have failed half-way)
        existing = [
            a["AlarmName"]
            for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix="bench-other-")
            for a in page["MetricAlarms"]
        ]
        for start in range(0, len(existing), 100):
            cw.delete_alarms(AlarmNames=existing[start : start + 100])
        return
    for k, name in enumerate(names):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="Bench/Other",
            MetricName="Noise",
            Dimensions=[{"Name": "Id", "Value": str(k)}],
            Statistic="Average",
            Period=10,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=1e9,
            ComparisonOperator="GreaterThanThreshold",
        )
    data = [
        {"MetricName": "Noise", "Dimensions": [{"Name": "Id", "Value": str(k)}], "Value": 1.0}
        for k in range(n)
    ]
    for start in range(0, n, 20):
        cw.put_metric_data(Namespace="Bench/Other", MetricData=data[start : start + 20])


def decision(args: argparse.Namespace, dy: ServerProcess, tag: str) -> dict[str, Any]:
    until = time.monotonic() + args.phase_limit
    ecs = client("ecs", dy.endpoint)
    aas = client("application-autoscaling", dy.endpoint)
    cluster = f"bench-scale-{tag}"
    ecs.create_cluster(clusterName=cluster)
    family = f"bench-scale-{tag}"
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "web", "image": "dockyard-demo/web:1", "memory": 64}],
    )
    ecs.create_service(cluster=cluster, serviceName="scaled", taskDefinition=family, desiredCount=1)
    resource_id = f"service/{cluster}/scaled"
    common = {
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id,
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    aas.register_scalable_target(MinCapacity=1, MaxCapacity=10000, **common)
    policy_arn = aas.put_scaling_policy(
        PolicyName="bench-step",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
            "Cooldown": 0,
            "MetricAggregationType": "Maximum",
        },
        **common,
    )["PolicyARN"]
    out: dict[str, Any] = {}
    cw = client("cloudwatch", dy.endpoint)
    feeder = Feeder(dy.endpoint)
    labels = ["plain", "extra"] if args.extra_alarms else ["plain"]
    names = {label: round_alarms(cw, feeder, label, args.rounds, policy_arn) for label in labels}
    try:
        with feeder.lock:
            values = dict(feeder.values)
        feeder.put(values)
        feeder.start()
        wait_ok(cw, [n for group in names.values() for n in group], until)  # all at once
        common_rounds = {
            "endpoint": dy.endpoint,
            "dy": dy,
            "feeder": feeder,
            "resource_id": resource_id,
            "until": until,
        }
        out["plain"] = run_rounds(label="plain", names=names["plain"], **common_rounds)
        report_rounds("no other alarms", out["plain"])
        if args.extra_alarms:
            t = time.monotonic()
            extra_alarms(dy.endpoint, args.extra_alarms, create=True)
            print(f"  ({args.extra_alarms} extra alarms created in {time.monotonic() - t:.1f} s)")
            try:
                out["extra"] = run_rounds(label="extra", names=names["extra"], **common_rounds)
            finally:
                extra_alarms(dy.endpoint, args.extra_alarms, create=False)
            out["extra_alarms"] = args.extra_alarms
            report_rounds(f"+{args.extra_alarms} alarms", out["extra"])
            per_round = out["extra"]["server_cpu_per_10s"] - out["plain"]["server_cpu_per_10s"]
            out["eval_cpu_ms_per_round"] = 1000 * per_round
            print(
                f"  evaluating {args.extra_alarms} more alarms: +{1000 * per_round:.0f} ms server "
                f"CPU per 10 s round ({1e6 * per_round / args.extra_alarms:.0f} us per alarm "
                "evaluation)"
            )
    finally:
        feeder.halt.set()
        feeder.join(5)
        with contextlib.suppress(Exception):  # those not deleted by their round
            leftover = [
                a["AlarmName"]
                for page in cw.get_paginator("describe_alarms").paginate(
                    AlarmNamePrefix="bench-round-"
                )
                for a in page["MetricAlarms"]
            ]
            for start in range(0, len(leftover), 100):
                cw.delete_alarms(AlarmNames=leftover[start : start + 100])
    return out


def report_rounds(label: str, r: dict[str, Any]) -> None:
    rounds = ", ".join(f"{x['decision_after_t0_s']:.1f}" for x in r["rounds"])
    print(
        f"  {label}: decision - t0 median {r['after_t0_median_s']:.1f} s, max {r['after_t0_max_s']:.1f} s "
        f"(rounds: {rounds}); decision - end of t0's period median {r['after_period_end_median_s']:.1f} s, "
        f"max {r['after_period_end_max_s']:.1f} s; target <= period + 5 s = 15 s: "
        f"{'met' if r['after_t0_max_s'] <= 15 else 'MISSED'}; server {100 * r['server_cpu_per_10s'] / 10:.1f} % "
        f"of a core during the rounds"
    )


# -- main ------------------------------------------------------------------------------------
async def run(
    args: argparse.Namespace, dy: ServerProcess, moto: ServerProcess, fresh: ServerProcess | None
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    summary: dict[str, Any] = {}
    if not args.skip_ingestion:
        print(
            f"1. ingestion: {args.instances} instances x {SERVICES * TASKS_PER_SERVICE} tasks, "
            f"{args.intervals} intervals"
        )
        summary["ingestion"] = await ingestion(args, dy, moto, tag)
        report_ingestion(summary["ingestion"])
    if not args.skip_decision:
        # A fresh server by default: the ingestion server keeps its 5,000 (now disconnected)
        # instances, whose background cost would drown the alarm evaluation figures.
        where = "the ingestion server" if fresh is None else "a fresh server"
        print(f"2. alarm -> scaling decision, {args.rounds} rounds, on {where}")
        summary["decision"] = await asyncio.to_thread(decision, args, fresh or dy, tag)
    return summary


def run_loop(coroutine: Any) -> Any:
    """uvloop when installed (the server uses it too): 5,000 sockets in one loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument(
        "--intervals", type=int, default=6, help="10 s metrics intervals per window"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="alarm -> decision rounds per variant"
    )
    parser.add_argument("--extra-alarms", type=int, default=1000)
    parser.add_argument("--baseline-calls", type=int, default=200, help="PutMetricData calls of 20")
    parser.add_argument("--quick", action="store_true", help="500 instances, 2 intervals, 2 rounds")
    parser.add_argument("--skip-ingestion", action="store_true")
    parser.add_argument("--skip-decision", action="store_true")
    parser.add_argument(
        "--decision-on-ingestion-server",
        action="store_true",
        help="run part 2 on the server that holds the ingestion's instances",
    )
    parser.add_argument("--phase-limit", type=float, default=400.0, help="seconds per phase")
    parser.add_argument("--json", metavar="OUT", help="also save the figures")
    args = parser.parse_args()
    if args.quick:
        args.instances, args.intervals, args.rounds = 500, 2, 2
        args.extra_alarms, args.baseline_calls = min(args.extra_alarms, 100), 60
    if args.instances < 1 or args.intervals < 1 or args.rounds < 1:
        parser.error("--instances, --intervals and --rounds must be >= 1")
    limit = raise_fd_limit(2 * args.instances + 1000)
    if limit < args.instances + 500:
        sys.exit(f"file descriptor limit {limit} is too low for {args.instances} websockets")
    install_signal_handlers()
    started = time.monotonic()
    with ServerSet() as servers:
        dy = servers.start(dockyard_server(extra_args=["--agent-grace", "600"]))
        moto = servers.start(moto_server())
        fresh = None
        if not args.decision_on_ingestion_server and not args.skip_decision:
            fresh = servers.start(dockyard_server())
        servers.wait_all_ready(60)
        print(f"dockyard {dy.endpoint} (pid {dy.pid}), moto {moto.endpoint}; fd limit {limit}")
        try:
            summary = run_loop(run(args, dy, moto, fresh))
        except BenchError as error:
            print(f"server log tail:\n{dy.log_tail()}", file=sys.stderr)
            sys.exit(f"metrics bench: {error}")
        finally:
            install_signal_handlers()
    summary["wall_s"] = time.monotonic() - started
    print(f"done in {summary['wall_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
