"""Scale: thousands of simulated instances and many tasks on one real control plane.

The real server process (`dockyard server`: SQLite store, ECS API, agent websocket)
against simulated instances: `--workers` subprocesses, each running its share of
agents in one asyncio loop through the real agent code (`dockyard.agent.main.run_agent`
with the in-memory `FakeRuntime`; one boto3 client per process for the registrations,
the agents' metrics samples every `--agent-metrics-interval` s). Each agent has its
own loopback host IP (127.0.1.1 ...), 8192 CPU units and 32768 MiB.

Per cluster size (smallest first, a fresh server and cluster each):

1. **join** - all agents start at once; time until all are registered and
   DescribeContainerInstances shows every one `agentConnected`.
2. **scale-up** - S REPLICA services (`--service-size` tasks each; one container,
   cpu 16, memory 64, port 8080 -> dynamic host port) are scaled from 0 in
   `--steps` steps with UpdateService desiredCount (the next step once the previous
   one is placed) while `--run-task-clients` boto3 clients place the rest of the
   tasks with RunTask count=10, and one client calls DescribeServices (10
   services a call, rotating) every `--describe-interval` s. Placed and RUNNING
   are DescribeClusters' pending+running and running counts.
3. **rolling update** of one service at full size (a new revision, 100/200):
   time until its new deployment is COMPLETED with all tasks RUNNING.

Prints placements/s and time until all are RUNNING, RunTask p50/p99 under that
load, DescribeServices p50/p99, server RSS and store size at the end, and the CPU
of the server beside the simulation's (its processes and their loop lag) and this
client's: the side near 100 % of a core is the bottleneck.

    .venv/bin/python bench/scale.py --quick --json out.json   # 100 and 500 instances
    .venv/bin/python bench/scale.py                           # 100, 1,000, 5,000 instances
    .venv/bin/python bench/scale.py --sizes 1000x100000 --size-limit 300

Bounded: join, scale-up and rollout each have a time limit per size (a size that
hits its limit reports how far it got and the run goes on to the next size), the
whole run `--time-limit`. Servers, simulation processes and temporary dirs are
removed on exit, errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _servers import (
    ServerProcess,
    ServerSet,
    dockyard_server,
    install_signal_handlers,
    postmaster_pid,
    tree_cpu_seconds,
)
from agents_scale import BenchError, cpu_seconds, ecs_client, host_ip, source_env
from dockyard.testing.postgres import PostgresCluster, throwaway_postgres

QUICK_SIZES = ((100, 10_000), (500, 50_000))
FULL_SIZES = ((100, 20_000), (1_000, 200_000), (5_000, 1_000_000))
INSTANCE_CPU, INSTANCE_MEMORY = 8192, 32768
TASK_CPU, TASK_MEMORY = 16, 64
SCRIPT = Path(__file__).resolve()


# --- the plan of one size (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class SizePlan:
    instances: int
    tasks: int
    services: int
    service_size: int
    run_tasks: int

    def step_targets(self, steps: int) -> list[int]:
        """desiredCount of every service after each step: 0 < ... <= service_size."""
        return sorted(
            {max(1, math.ceil(self.service_size * k / steps)) for k in range(1, steps + 1)}
        )


def plan_size(instances: int, tasks: int, service_size: int, run_task_share: float) -> SizePlan:
    """Most tasks through services of `service_size`, the rest (about the share) by RunTask."""
    service_size = max(1, min(service_size, tasks))
    services = int(tasks * (1 - run_task_share)) // service_size
    return SizePlan(instances, tasks, services, service_size, tasks - services * service_size)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """ "100x20000,1000x200000" -> [(100, 20000), (1000, 200000)], smallest first."""
    sizes = []
    for part in text.split(","):
        instances, _, tasks = part.strip().lower().partition("x")
        sizes.append((int(instances), int(tasks)))
    return sorted(sizes)


# --- /proc readings ---------------------------------------------------------------------------


def rss_mb(pid: int | None) -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def pg_pid(pg: PostgresCluster | None) -> int | None:
    return None if pg is None else postmaster_pid(pg.data_dir)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class Meter:
    """CPU of the server, the simulation processes, this process and the machine."""

    server: ServerProcess
    sims: list[ServerProcess]
    db_pid: int | None = None  # PostgreSQL's postmaster (--store postgres)
    marks: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        busy, total = machine_busy()
        return {
            "t": time.monotonic(),
            "server": cpu_seconds(self.server.pid),
            "sim": sum(cpu_seconds(s.pid) for s in self.sims),
            "db": tree_cpu_seconds(self.db_pid),
            "bench": time.process_time(),
            "busy": busy,
            "total": total,
        }

    def mark(self) -> None:
        self.marks = self.read()

    def since(self) -> dict[str, float]:
        now, then = self.read(), self.marks
        wall = max(1e-9, now["t"] - then["t"])
        cores = os.cpu_count() or 1
        return {
            "wall_s": wall,
            "server_cpu_pct": 100 * (now["server"] - then["server"]) / wall,
            "sim_cpu_pct": 100 * (now["sim"] - then["sim"]) / wall,
            "db_cpu_pct": 100 * (now["db"] - then["db"]) / wall,
            "bench_cpu_pct": 100 * (now["bench"] - then["bench"]) / wall,
            "machine_cpu_pct": 100
            * cores
            * (now["busy"] - then["busy"])
            / max(1e-9, now["total"] - then["total"]),
        }


def cpu_text(cpu: dict[str, float]) -> str:
    db = f"PostgreSQL {cpu['db_cpu_pct']:.0f} %, " if cpu.get("db_cpu_pct") else ""
    return (
        f"server {cpu['server_cpu_pct']:.0f} % of a core, {db}"
        f"simulation {cpu['sim_cpu_pct']:.0f} %, "
        f"bench client {cpu['bench_cpu_pct']:.0f} %, machine {cpu['machine_cpu_pct']:.0f} % "
        f"of {os.cpu_count()} cores"
    )


# --- the simulation process -------------------------------------------------------------------


def sim_worker(spec: dict[str, Any], base: Path, env: dict[str, str]) -> ServerProcess:
    path = base / f"sim-{spec['first']}.json"
    path.write_text(json.dumps(spec))
    argv = [sys.executable, str(SCRIPT), "--sim-worker", str(path), "--sim-port", "{port}"]
    return ServerProcess(f"sim-{spec['first']}", argv, health_path="/status", env=env, log_dir=base)


def sim_main(spec_path: str, port: int) -> None:
    spec = json.loads(Path(spec_path).read_text())
    os.nice(spec.get("nice", 0))  # the server first when both want the CPU (--sim-nice)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_simulate(spec, port))
    else:
        uvloop.run(_simulate(spec, port))


async def _simulate(spec: dict[str, Any], port: int) -> None:
    """Run agents [first, first+count) until SIGTERM; GET /status reports their progress."""
    import logging

    import boto3
    from aiohttp import web
    from botocore.config import Config

    from dockyard.agent import main as agent_main
    from dockyard.agent.config import build_config

    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(message)s")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Every run_agent installs its own SIGINT/SIGTERM handlers: keep this one.
    loop.add_signal_handler = lambda *_a, **_k: None  # type: ignore[method-assign]
    loop.set_default_executor(ThreadPoolExecutor(spec["threads"], thread_name_prefix="sim"))
    # One boto3 client per process for the registrations: building one per agent costs
    # ~30 ms of CPU each (service model, SSL context), which would make joins sim-bound.
    shared = boto3.session.Session().client(
        "ecs",
        endpoint_url=spec["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="dockyard-agent",
        aws_secret_access_key="dockyard-agent",
        config=Config(
            retries={"max_attempts": 2},
            connect_timeout=3,
            read_timeout=60,
            max_pool_connections=spec["threads"],
        ),
    )
    if hasattr(agent_main, "_client"):
        agent_main._client = lambda _config: shared
    work = Path(spec["work"])
    lags: list[float] = []
    # 1,250 agents in one process make a heap no real agent has (GBs): CPython's full
    # collections then stopped this loop for up to 6 s and agents missed their websocket
    # heartbeats (bench/README.md, 2026-12-03). The server's collector policy, when the
    # served source has it.
    from dockyard import gc_policy

    if hasattr(gc_policy, "keep_heap_frozen"):
        gc_policy.tune_for_server()
        freezer = asyncio.create_task(gc_policy.keep_heap_frozen())
        freezer.add_done_callback(lambda _t: None)

    async def probe() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - before - 0.05)

    probe_task = asyncio.create_task(probe())
    agents: list[tuple[asyncio.Task[None], Path]] = []

    async def status(_request: web.Request) -> web.Response:
        failed = [
            repr(task.exception())
            for task, _ in agents
            if task.done() and not task.cancelled() and task.exception()
        ]
        recent = sorted(lags[-1200:])
        return web.json_response(
            {
                "agents": len(agents),
                "registered": sum(1 for _, ready in agents if ready.exists()),
                "failed": len(failed),
                "errors": failed[:3],
                "lag_p50_ms": 1000 * quantile(recent, 0.5) if recent else 0.0,
                "lag_p99_ms": 1000 * quantile(recent, 0.99) if recent else 0.0,
                "lag_max_ms": 1000 * max(recent, default=0.0),
            }
        )

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    for index in range(spec["first"], spec["first"] + spec["count"]):
        config = build_config(
            {
                "endpoint": spec["endpoint"],
                "cluster": spec["cluster"],
                "host_ip": host_ip(index),
                "cpu": INSTANCE_CPU,
                "memory": INSTANCE_MEMORY,
                "data_dir": str(work / f"agent-{index}"),
                "fake_runtime": True,
                "cleanup_wait": "30s",
            },
            None,
            environ={},
        )
        ready = work / f"ready-{index}"
        agents.append((asyncio.create_task(agent_main.run_agent(config, ready_file=ready)), ready))
    await stop.wait()
    probe_task.cancel()
    for task, _ in agents:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait([t for t, _ in agents], timeout=3)
    await runner.cleanup()


def sim_statuses(sims: list[ServerProcess]) -> list[dict[str, Any]]:
    import urllib.request

    out = []
    for sim in sims:
        with urllib.request.urlopen(sim.endpoint + "/status", timeout=10) as answer:
            out.append(json.loads(answer.read()))
    return out


# --- the API side -----------------------------------------------------------------------------


class Clients:
    """One boto3 client per thread (clients are costly to build, cheap to reuse)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.local = threading.local()

    def get(self) -> Any:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = ecs_client(self.endpoint)
            client.meta.events.register("before-parse.ecs", self._received)
        return client

    def _received(self, **_: Any) -> None:
        """botocore has read the whole response and is about to parse it."""
        self.local.received = time.perf_counter()

    def response_ms(self, before: float) -> float:
        """From `before` until the last call's response was read, without botocore's
        parsing of it (the client's own cost, large for big responses)."""
        return 1000 * (self.local.received - before)


@dataclass
class Load:
    """The load threads of one scale-up: RunTask clients and a DescribeServices prober."""

    clients: Clients
    cluster: str
    until: float
    halt: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    run_task_ms: list[float] = field(default_factory=list)
    describe_ms: list[float] = field(default_factory=list)
    run_task_response_ms: list[float] = field(default_factory=list)
    describe_response_ms: list[float] = field(default_factory=list)
    run_task_placed: int = 0
    claimed: int = 0  # asked for or placed: concurrent clients never overshoot the quota
    failures: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def running(self) -> bool:
        return not self.halt.is_set() and time.monotonic() < self.until

    def run_tasks(self, taskdef: str, quota: int) -> None:
        """RunTask count<=10 until the quota is placed (bounded by calls and time)."""
        ecs = self.clients.get()
        calls = 0
        while self.running() and calls < quota // 5 + 50:
            with self.lock:
                count = min(10, quota - self.claimed)
                self.claimed += max(0, count)
            if count <= 0:
                return
            calls += 1
            before = time.perf_counter()
            try:
                answer = ecs.run_task(cluster=self.cluster, taskDefinition=taskdef, count=count)
            except Exception as error:
                with self.lock:
                    self.claimed -= count
                    self.errors.append(f"RunTask: {error}")
                self.halt.wait(0.5)
                continue
            elapsed = 1000 * (time.perf_counter() - before)
            with self.lock:
                self.run_task_ms.append(elapsed)
                self.run_task_response_ms.append(self.clients.response_ms(before))
                self.run_task_placed += len(answer["tasks"])
                self.claimed -= count - len(answer["tasks"])
                for failure in answer.get("failures", []):
                    reason = str(failure.get("reason", "?"))
                    self.failures[reason] = self.failures.get(reason, 0) + 1
            if not answer["tasks"]:
                self.halt.wait(0.2)  # nothing fits right now: do not spin

    def describe(self, services: list[str], interval: float) -> None:
        """DescribeServices of 10 services at a time (rotating), every `interval` s."""
        ecs = self.clients.get()
        chunks = itertools.cycle([services[i : i + 10] for i in range(0, len(services), 10)])
        while self.running():
            before = time.perf_counter()
            try:
                ecs.describe_services(cluster=self.cluster, services=next(chunks))
            except Exception as error:
                self.errors.append(f"DescribeServices: {error}")
            else:
                self.describe_ms.append(1000 * (time.perf_counter() - before))
                self.describe_response_ms.append(self.clients.response_ms(before))
            self.halt.wait(interval)


def cluster_counts(ecs: Any, cluster: str) -> tuple[int, int]:
    """(running, pending) tasks of the cluster."""
    found = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    return int(found["runningTasksCount"]), int(found["pendingTasksCount"])


def connected_instances(ecs: Any, cluster: str) -> int:
    arns: list[str] = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        arns += page["containerInstanceArns"]
    up = 0
    for start in range(0, len(arns), 100):
        found = ecs.describe_container_instances(
            cluster=cluster, containerInstances=arns[start : start + 100]
        )["containerInstances"]
        up += sum(1 for i in found if i.get("agentConnected"))
    return up


def poll_until(
    what: str, check: Callable[[], bool], until: float, poll: float, report: Callable[[], None]
) -> bool:
    """Call `check` every `poll` s until it holds (True) or `until` passes (False)."""
    next_report = time.monotonic() + 5
    while True:
        if check():
            return True
        now = time.monotonic()
        if now > until:
            print(f"  ! time limit: {what} not reached")
            return False
        if now >= next_report:
            report()
            next_report = now + 5
        time.sleep(poll)


def fan_out(
    clients: Clients,
    pool: ThreadPoolExecutor,
    call: Callable[[Any, str], Any],
    items: list[str],
    until: float = math.inf,
) -> int:
    """`call(client, item)` for every item on the pool; those not begun by `until` are
    skipped. Returns how many were made."""

    def one(item: str) -> bool:
        if time.monotonic() > until:
            return False
        call(clients.get(), item)
        return True

    return sum(f.result() for f in [pool.submit(one, item) for item in items])


def task_definition(ecs: Any, family: str, version: str) -> str:
    answer = ecs.register_task_definition(
        family=family,
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "web",
                "image": "dockyard-demo/web:1",
                "cpu": TASK_CPU,
                "memory": TASK_MEMORY,
                "essential": True,
                "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                "environment": [{"name": "VERSION", "value": version}],
            }
        ],
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


# --- one size ---------------------------------------------------------------------------------


def workers_for(instances: int, requested: int) -> int:
    if requested:
        return max(1, min(requested, instances))
    return 1 if instances < 200 else 2 if instances < 2000 else 4


@dataclass
class Run:
    """One size's run: its plan, options, server, simulation and clients."""

    plan: SizePlan
    args: argparse.Namespace
    deadline: float
    base: Path
    server: ServerProcess
    clients: Clients
    cluster: str
    family: str
    sims: list[ServerProcess] = field(default_factory=list)
    meter: Meter | None = None
    pg: PostgresCluster | None = None  # --store postgres: the cluster holding the store
    store_url: str | None = None

    @property
    def ecs(self) -> Any:
        return self.clients.get()

    def cpu(self) -> dict[str, float]:
        assert self.meter is not None
        return self.meter.since()

    def mark(self) -> None:
        assert self.meter is not None
        self.meter.mark()


def run_size(
    plan: SizePlan,
    args: argparse.Namespace,
    env: dict[str, str],
    deadline: float,
    pg: PostgresCluster | None = None,
) -> dict[str, Any]:
    """A fresh server and cluster (and, on `pg`, a fresh database): join, scale-up, rolling
    update, end figures."""
    base = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    store_url = None
    extra = ["--agent-grace", "900", "--log-level", args.server_log_level]
    if pg is not None:
        store_url = pg.create_database(f"scale_{plan.instances}_{plan.tasks}")
        extra += ["--store-url", store_url]
    try:
        with ServerSet() as servers:
            server = servers.start(
                dockyard_server(data_dir=base / "data", extra_args=extra, env=env)
            )
            server.wait_ready(60)
            tag = uuid.uuid4().hex[:8]
            run = Run(
                plan,
                args,
                deadline,
                base,
                server,
                Clients(server.endpoint),
                cluster=f"bench-scale-{tag}",
                family=f"bench-scale-{tag}",
                pg=pg,
                store_url=store_url,
            )
            out: dict[str, Any] = {
                "store": "sqlite" if pg is None else "postgres",
                "instances": plan.instances,
                "tasks": plan.tasks,
                "services": plan.services,
                "service_size": plan.service_size,
                "run_tasks": plan.run_tasks,
            }
            try:
                run.ecs.create_cluster(clusterName=run.cluster)
                out["join"] = join(run, servers, env)
                out.update(scale_up(run))
                out["rollout_s"] = None
                if not out["capped"] and plan.services and time.monotonic() + 10 < deadline:
                    out["rollout_s"] = rollout(run, "svc-0000")
                out.update(end_figures(run))
            except Exception:
                print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
            return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def join(run: Run, servers: ServerSet, env: dict[str, str]) -> dict[str, float]:
    """Start the simulation processes; wait until every agent is registered and connected."""
    plan, args = run.plan, run.args
    nworkers = workers_for(plan.instances, args.workers)
    share = math.ceil(plan.instances / nworkers)
    sim_env = {**env, "DOCKYARD_METRICS_INTERVAL": str(args.agent_metrics_interval)}
    for first in range(0, plan.instances, share):
        work = run.base / f"agents-{first}"
        work.mkdir()
        spec = {
            "endpoint": run.server.endpoint,
            "cluster": run.cluster,
            "first": first,
            "count": min(share, plan.instances - first),
            "work": str(work),
            "threads": args.sim_threads,
            "nice": args.sim_nice,
        }
        run.sims.append(servers.start(sim_worker(spec, run.base, sim_env)))
    run.meter = Meter(run.server, run.sims, pg_pid(run.pg))
    run.mark()
    t0 = time.monotonic()
    for sim in run.sims:
        sim.wait_ready(30)
    until = min(run.deadline, t0 + args.join_limit)
    statuses: list[dict[str, Any]] = []

    def registered() -> bool:
        statuses[:] = sim_statuses(run.sims)
        errors = [e for s in statuses for e in s["errors"]]
        if errors:
            raise BenchError(f"agents failed: {errors[:3]}")
        return sum(s["registered"] for s in statuses) >= plan.instances

    def report() -> None:
        print(f"  ... {sum(s['registered'] for s in statuses)} registered; {cpu_text(run.cpu())}")

    if not poll_until("all registered", registered, until, 0.2, report):
        raise BenchError("the agents did not register in time")
    t_registered = time.monotonic()
    connected = poll_until(
        "all agentConnected",
        lambda: connected_instances(run.ecs, run.cluster) >= plan.instances,
        until,
        1.0,
        lambda: None,
    )
    if not connected:
        raise BenchError("the agents did not connect in time")
    figures = {"registered_s": t_registered - t0, "connected_s": time.monotonic() - t0}
    figures.update(run.cpu())
    print(
        f"  join: {plan.instances:,} agents in {nworkers} process(es) registered in "
        f"{figures['registered_s']:.1f} s, all agentConnected in {figures['connected_s']:.1f} s "
        f"({plan.instances / figures['connected_s']:.0f} instances/s); {cpu_text(figures)}"
    )
    return figures


def scale_up(run: Run) -> dict[str, Any]:
    """Services scaled up in steps, RunTask and DescribeServices alongside, until all RUNNING."""
    plan, args, ecs = run.plan, run.args, run.ecs
    taskdef = task_definition(ecs, run.family, "1")
    names = [f"svc-{i:04d}" for i in range(plan.services)]
    pool = ThreadPoolExecutor(args.api_threads, thread_name_prefix="api")
    load = Load(run.clients, run.cluster, until=run.deadline)
    threads: list[threading.Thread] = []
    counts = [0, 0]  # running, pending at the last poll

    def poll() -> tuple[int, int]:
        counts[:] = cluster_counts(ecs, run.cluster)
        return counts[0], counts[1]

    try:
        created = fan_out(
            run.clients,
            pool,
            lambda c, name: c.create_service(
                cluster=run.cluster, serviceName=name, taskDefinition=taskdef, desiredCount=0
            ),
            names,
            min(run.deadline, time.monotonic() + args.size_limit),
        )
        if created < len(names):
            raise BenchError(f"only {created} of {len(names)} services created in time")
        t0 = time.monotonic()
        load.until = min(run.deadline, t0 + args.size_limit)
        if plan.run_tasks:
            for _ in range(args.run_task_clients):
                threads.append(
                    threading.Thread(
                        target=load.run_tasks, args=(taskdef, plan.run_tasks), daemon=True
                    )
                )
        if names:
            threads.append(
                threading.Thread(
                    target=load.describe, args=(names, args.describe_interval), daemon=True
                )
            )
        last = {"t": t0, "placed": 0.0}

        def progress() -> None:
            now, placed = time.monotonic(), counts[0] + counts[1]
            rate = (placed - last["placed"]) / max(1e-9, now - last["t"])
            last.update(t=now, placed=placed)
            statuses = sim_statuses(run.sims)
            lag = max((s["lag_p99_ms"] for s in statuses), default=0.0)
            failed = sum(s["failed"] for s in statuses)
            errors = [e for s in statuses for e in s["errors"]][:2]
            print(
                f"  ... {now - t0:4.0f} s: placed {placed:,}, RUNNING {counts[0]:,} "
                f"({rate:,.0f}/s now); {cpu_text(run.cpu())}; sim loop lag p99 {lag:.0f} ms"
                + (f"; {failed} simulated agents FAILED: {errors}" if failed else "")
            )

        run.mark()
        for thread in threads:
            thread.start()
        steps: list[dict[str, float]] = []
        error = None
        placed_at: float | None = None
        running_at: float | None = None
        try:
            placed_at, running_at = drive(
                run,
                load,
                names=names,
                pool=pool,
                poll=poll,
                progress=progress,
                steps=steps,
                t0=t0,
            )
        except Exception as exc:  # an API call failed (e.g. timed out): report how far it got
            error = f"{type(exc).__name__}: {exc}"
            print(f"  ! {error}")
            with contextlib.suppress(Exception):
                poll()
        elapsed = time.monotonic() - t0
        load.halt.set()
        joined_by = time.monotonic() + 30  # a call in flight on a busy server may take long
        for thread in threads:
            thread.join(timeout=max(0.0, joined_by - time.monotonic()))
        cpu = run.cpu()
        lags = sim_statuses(run.sims)
    finally:
        load.halt.set()
        pool.shutdown(wait=False, cancel_futures=True)
    placed = counts[0] + counts[1]
    out = {
        # Until all were placed; a capped run: what it placed in the time it had.
        "placements_per_s": placed / max(1e-9, placed_at or elapsed),
        "all_placed_s": placed_at,
        "all_running_s": running_at,
        "capped": running_at is None,
        "placed": placed,
        "running": counts[0],
        "steps": steps,
        "run_task_calls": len(load.run_task_ms),
        "run_task_placed": load.run_task_placed,
        "run_task_p50_ms": quantile(load.run_task_ms, 0.5),
        "run_task_p99_ms": quantile(load.run_task_ms, 0.99),
        "describe_services_calls": len(load.describe_ms),
        "describe_services_p50_ms": quantile(load.describe_ms, 0.5),
        "describe_services_p99_ms": quantile(load.describe_ms, 0.99),
        # The same calls until their responses were read (without botocore's parsing).
        "run_task_response_p50_ms": quantile(load.run_task_response_ms, 0.5),
        "run_task_response_p99_ms": quantile(load.run_task_response_ms, 0.99),
        "describe_services_response_p50_ms": quantile(load.describe_response_ms, 0.5),
        "describe_services_response_p99_ms": quantile(load.describe_response_ms, 0.99),
        "run_task_failures": load.failures,
        "errors": ([error] if error else []) + load.errors[:5],
        "scale_cpu": cpu,
        # Steadier than rates on a shared machine: server CPU per task placed.
        "server_cpu_ms_per_placement": 10 * cpu["server_cpu_pct"] * cpu["wall_s"] / max(1, placed),
        "sim_loop_lag_p99_ms": max((s["lag_p99_ms"] for s in lags), default=0.0),
        "sim_loop_lag_max_ms": max((s["lag_max_ms"] for s in lags), default=0.0),
    }
    head = (
        f"all {plan.tasks:,} RUNNING in {out['all_running_s']:.1f} s"
        if running_at is not None
        else f"CAPPED at {args.size_limit:.0f} s: {placed:,} placed, {counts[0]:,} RUNNING"
    )
    print(
        f"  scale-up: {plan.services} services x {plan.service_size} + {plan.run_tasks:,} by "
        f"RunTask: {out['placements_per_s']:,.0f} placements/s, {head}"
    )
    print(
        f"  RunTask p50 {out['run_task_p50_ms']:.0f} ms p99 {out['run_task_p99_ms']:.0f} ms "
        f"({len(load.run_task_ms)} calls, {load.run_task_placed:,} tasks); DescribeServices "
        f"p50 {out['describe_services_p50_ms']:.0f} ms p99 {out['describe_services_p99_ms']:.0f} "
        f"ms ({len(load.describe_ms)} calls); until the responses were read (before "
        f"botocore parsed them): RunTask {out['run_task_response_p50_ms']:.0f} / "
        f"{out['run_task_response_p99_ms']:.0f} ms, DescribeServices "
        f"{out['describe_services_response_p50_ms']:.0f} / "
        f"{out['describe_services_response_p99_ms']:.0f} ms"
    )
    print(
        f"  CPU during scale-up: {cpu_text(cpu)}; server "
        f"{out['server_cpu_ms_per_placement']:.1f} ms of CPU per placement; sim loop lag p99 "
        f"{out['sim_loop_lag_p99_ms']:.0f} ms, max {out['sim_loop_lag_max_ms']:.0f} ms"
    )
    if load.failures or load.errors:
        print(
            f"  RunTask failures {dict(list(load.failures.items())[:3])}; errors {load.errors[:3]}"
        )
    return out


def drive(
    run: Run,
    load: Load,
    *,
    names: list[str],
    pool: ThreadPoolExecutor,
    poll: Callable[[], tuple[int, int]],
    progress: Callable[[], None],
    steps: list[dict[str, float]],
    t0: float,
) -> tuple[float | None, float | None]:
    """The scale-up steps, then the waits for all placed and all RUNNING: when each was
    reached (s after t0), None if not within the limit."""
    plan, args, until = run.plan, run.args, load.until
    for target in plan.step_targets(args.steps) if names else []:
        before = time.monotonic()
        made = fan_out(
            run.clients,
            pool,
            lambda c, name, target=target: c.update_service(
                cluster=run.cluster, service=name, desiredCount=target
            ),
            names,
            until,
        )
        called = time.monotonic()
        if made < len(names):
            print(f"  ! time limit: only {made} of {len(names)} UpdateService calls made")
            return None, None

        def step_placed(target: int = target) -> bool:
            running, pending = poll()
            return running + pending - load.run_task_placed >= target * plan.services

        ok = poll_until(f"step {target}", step_placed, until, args.poll, progress)
        steps.append(
            {"desired": target, "calls_s": called - before, "placed_at": time.monotonic() - t0}
        )
        print(
            f"  step: {plan.services} services -> desiredCount {target}: UpdateService calls "
            f"{called - before:.1f} s, placed at {time.monotonic() - t0:.1f} s"
        )
        if not ok:
            return None, None
    if not poll_until("all placed", lambda: sum(poll()) >= plan.tasks, until, args.poll, progress):
        return None, None
    placed_at = time.monotonic() - t0
    if not poll_until("all RUNNING", lambda: poll()[0] >= plan.tasks, until, args.poll, progress):
        return placed_at, None
    return placed_at, time.monotonic() - t0


def rollout(run: Run, service: str) -> float | None:
    """UpdateService to a new revision (100/200); time until COMPLETED at full size."""
    ecs, size = run.ecs, run.plan.service_size
    revision = task_definition(ecs, run.family, "2")
    run.mark()
    t0 = time.monotonic()
    ecs.update_service(cluster=run.cluster, service=service, taskDefinition=revision)
    seen: dict[str, Any] = {}

    def completed() -> bool:
        found = ecs.describe_services(cluster=run.cluster, services=[service])["services"][0]
        seen.update(found)
        deployments = found["deployments"]
        return (
            len(deployments) == 1
            and deployments[0]["taskDefinition"] == revision
            and deployments[0].get("rolloutState") == "COMPLETED"
            and found["runningCount"] == size
        )

    def report() -> None:
        states = [
            (d["taskDefinition"].rsplit(":", 1)[-1], d["runningCount"], d["pendingCount"])
            for d in seen.get("deployments", [])
        ]
        print(f"  ... rollout {time.monotonic() - t0:.0f} s: (revision, running, pending) {states}")

    until = min(run.deadline, t0 + run.args.rollout_limit)
    ok = poll_until("rollout COMPLETED", completed, until, 0.25, report)
    elapsed = time.monotonic() - t0
    print(
        f"  rolling update of {service} ({size} tasks, 100/200): "
        + (f"COMPLETED in {elapsed:.1f} s" if ok else f"not COMPLETED after {elapsed:.0f} s")
        + f"; {cpu_text(run.cpu())}"
    )
    return elapsed if ok else None


def store_mb(run: Run) -> float:
    """SQLite: the data dir's files; PostgreSQL: pg_database_size of the run's database."""
    if run.store_url is None:
        return dir_mb(run.base / "data")
    import sqlalchemy as sa

    engine = sa.create_engine(run.store_url)
    try:
        with engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        return float(size or 0) / 1e6
    finally:
        engine.dispose()


def server_counters(run: Run) -> dict[str, float]:
    """From the server's /metrics: service steps and placement calls (count, seconds)."""
    import urllib.request

    wanted = {
        "dockyard_service_reconcile_duration_seconds_count": "steps",
        "dockyard_service_reconcile_duration_seconds_sum": "steps_s",
        "dockyard_placement_duration_seconds_count": "placement_calls",
        "dockyard_placement_duration_seconds_sum": "placement_s",
    }
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(run.server.endpoint + "/metrics", timeout=10) as answer:
            for line in answer.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name in wanted:
                    out[wanted[name]] = float(value)
    except OSError as error:
        print(f"  (no /metrics: {error})")
    return out


def end_figures(run: Run) -> dict[str, Any]:
    counters = server_counters(run)
    if counters.get("steps"):
        each_ms = 1000 * counters["steps_s"] / counters["steps"]
        print(
            f"  server: {counters['steps']:,.0f} service steps ({each_ms:.1f} ms each), "
            f"{counters.get('placement_calls', 0):,.0f} placement calls "
            f"({counters.get('placement_s', 0):.0f} s in all)"
        )
    out = {
        **counters,
        "server_rss_mb": rss_mb(run.server.pid),
        "store_mb": store_mb(run),
        "server_cpu_s": cpu_seconds(run.server.pid),
        "sim_cpu_s": sum(cpu_seconds(s.pid) for s in run.sims),
        "sim_rss_mb": sum(rss_mb(s.pid) for s in run.sims),
        "db_cpu_s": tree_cpu_seconds(pg_pid(run.pg)),
    }
    db = f"PostgreSQL CPU {out['db_cpu_s']:.0f} s; " if run.pg is not None else ""
    print(
        f"  end: server RSS {out['server_rss_mb']:.0f} MB, store {out['store_mb']:.0f} MB, "
        f"server CPU {out['server_cpu_s']:.0f} s in all; {db}simulation CPU "
        f"{out['sim_cpu_s']:.0f} s, RSS {out['sim_rss_mb']:.0f} MB"
    )
    log = run.server.log_path
    text = log.read_text(errors="replace") if log is not None and log.exists() else ""
    if "Traceback" in text:
        first = text.index("Traceback")
        print("  ! the server logged a traceback; the first:\n" + text[first : first + 3000])
    if KEEP_LOGS is not None and text:
        KEEP_LOGS.mkdir(parents=True, exist_ok=True)
        kept = KEEP_LOGS / f"server-{run.server.port}.log"
        kept.write_text(text)
        print(f"  server log kept in {kept}")
    return out


KEEP_LOGS: Path | None = None  # --keep-logs


# --- main -------------------------------------------------------------------------------------


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        print(f"warning: RLIMIT_NOFILE {target} < ~{needed} sockets this run needs")


def summary_table(results: list[dict[str, Any]]) -> None:
    print(
        "\n| store | instances | tasks | placements/s | all RUNNING | RunTask p50/p99 | DescribeServices p50/p99 | rollout | server RSS | store | server / db / sim CPU | server CPU per placement |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        if "placements_per_s" not in r:
            print(
                f"| {r.get('store', '?')} | {r['instances']:,} | {r['tasks']:,} | "
                f"failed: {r.get('error', '?')} |"
            )
            continue
        running = (
            f"{r['all_running_s']:.1f} s"
            if r.get("all_running_s")
            else f"capped ({r.get('running', 0):,} RUNNING)"
        )
        rollout_text = f"{r['rollout_s']:.1f} s" if r.get("rollout_s") else "-"
        cpu = r.get("scale_cpu", {})
        print(
            f"| {r.get('store', 'sqlite')} | {r['instances']:,} | {r['tasks']:,} | "
            f"{r.get('placements_per_s', 0):,.0f} | {running} | "
            f"{r.get('run_task_p50_ms', 0):.0f} / {r.get('run_task_p99_ms', 0):.0f} ms | "
            f"{r.get('describe_services_p50_ms', 0):.0f} / {r.get('describe_services_p99_ms', 0):.0f} ms | "
            f"{rollout_text} | {r.get('server_rss_mb', 0):.0f} MB | {r.get('store_mb', 0):.0f} MB | "
            f"{cpu.get('server_cpu_pct', 0):.0f} % / {cpu.get('db_cpu_pct', 0):.0f} % / "
            f"{cpu.get('sim_cpu_pct', 0):.0f} % | "
            f"{r.get('server_cpu_ms_per_placement', 0):.1f} ms |"
        )


def sizes_of(args: argparse.Namespace) -> Iterator[tuple[int, int]]:
    if args.sizes:
        yield from parse_sizes(args.sizes)
    else:
        yield from QUICK_SIZES if args.quick else FULL_SIZES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100 and 500 instances, 10k and 50k tasks"
    )
    parser.add_argument("--sizes", help="e.g. 100x20000,1000x200000 (instances x tasks)")
    parser.add_argument("--service-size", type=int, default=1000, help="tasks per service")
    parser.add_argument("--run-task-share", type=float, default=0.1, help="share placed by RunTask")
    parser.add_argument("--steps", type=int, default=4, help="scale-up steps of every service")
    parser.add_argument("--run-task-clients", type=int, default=2)
    parser.add_argument(
        "--describe-interval", type=float, default=0.1, help="s between DescribeServices"
    )
    parser.add_argument("--poll", type=float, default=0.5, help="s between DescribeClusters polls")
    parser.add_argument("--workers", type=int, default=0, help="simulation processes (0: by size)")
    parser.add_argument(
        "--sim-threads", type=int, default=8, help="to_thread pool per simulation process"
    )
    parser.add_argument(
        "--sim-nice",
        type=int,
        default=10,
        help="niceness of the simulation processes: the agents stand in for other machines, "
        "so the server runs first when both want this machine's CPU (0: equal)",
    )
    parser.add_argument(
        "--api-threads", type=int, default=4, help="clients for Create/UpdateService fan-out"
    )
    parser.add_argument(
        "--agent-metrics-interval",
        type=float,
        default=3600.0,
        help="agents' metrics period, s (AWS-like: 10)",
    )
    parser.add_argument(
        "--join-limit",
        type=float,
        default=None,
        help="s per size for the join (default 60 quick, 300)",
    )
    parser.add_argument(
        "--size-limit",
        type=float,
        default=None,
        help="s per size for the scale-up (default 120 quick, 600)",
    )
    parser.add_argument(
        "--rollout-limit",
        type=float,
        default=None,
        help="s for the rolling update (default 60 quick, 180)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=None, help="s in all (default 600 quick, 3600)"
    )
    parser.add_argument("--server-log-level", default="warning")
    parser.add_argument("--dockyard-src", metavar="DIR", help="serve Dockyard from DIR or DIR/src")
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite, postgres or sqlite,postgres (each size on each; PostgreSQL: a throwaway "
        "durable cluster, fsync on, from Debian's postgresql)",
    )
    parser.add_argument("--json", metavar="FILE", help="also save the figures")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy each size's server log here")
    parser.add_argument("--sim-worker", help=argparse.SUPPRESS)
    parser.add_argument("--sim-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sim_worker:
        sim_main(args.sim_worker, args.sim_port)
        return
    global KEEP_LOGS  # noqa: PLW0603 - one setting for the whole run
    KEEP_LOGS = Path(args.keep_logs) if args.keep_logs else None
    quick = args.quick
    args.join_limit = args.join_limit or (60.0 if quick else 300.0)
    args.size_limit = args.size_limit or (120.0 if quick else 600.0)
    args.rollout_limit = args.rollout_limit or (60.0 if quick else 180.0)
    args.time_limit = args.time_limit or (600.0 if quick else 3600.0)
    sizes = list(sizes_of(args))
    stores = [s.strip() for s in args.store.split(",") if s.strip()]
    if not stores or any(s not in {"sqlite", "postgres"} for s in stores):
        parser.error("--store: sqlite, postgres or both, comma-separated")
    if any(not 1 <= n <= 254 * 255 or m < 1 for n, m in sizes) or not 1 <= args.steps <= 100:
        parser.error("instances 1..64770, tasks >= 1, --steps 1..100")
    raise_nofile(max(n for n, _ in sizes) * 2 + 1000)
    install_signal_handlers()
    env = source_env(args.dockyard_src) or {}
    deadline = time.monotonic() + args.time_limit
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(throwaway_postgres(durable=True)) if "postgres" in stores else None
        for instances, tasks in sizes:
            plan = plan_size(instances, tasks, args.service_size, args.run_task_share)
            for store in stores:
                if time.monotonic() + 30 > deadline:
                    print(f"\n{instances:,} instances on {store}: skipped (--time-limit)")
                    break
                print(
                    f"\n== {instances:,} instances, {tasks:,} tasks ({plan.services} services x "
                    f"{plan.service_size} in {args.steps} steps + {plan.run_tasks:,} by RunTask)"
                    f", {store} store =="
                )
                try:
                    results.append(
                        run_size(plan, args, env, deadline, pg if store == "postgres" else None)
                    )
                except Exception as error:  # BenchError, or an API call that failed: go on
                    print(f"  ! {instances:,} instances: {type(error).__name__}: {error}")
                    results.append(
                        {
                            "store": store,
                            "instances": instances,
                            "tasks": tasks,
                            "error": str(error),
                        }
                    )
    summary_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": results}, indent=2, default=str))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
