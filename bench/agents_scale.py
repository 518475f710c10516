"""Many agents on one server: join time, then placement and start of many tasks.

One `dockyard server` subprocess; N simulated agents (`--fake-runtime`: in-memory
containers) run in THIS process, in one asyncio loop, through
`dockyard.agent.main.run_agent` - each with its own data dir and its own host IP
(127.0.1.1 ... 127.0.1.254, then 127.0.2.1 ...), 2048 CPU units and 2048 MiB.

1. **join** - all N agents start at once; time until every one has registered
   (its ready file holds its instance ARN) and until DescribeContainerInstances
   shows every instance `agentConnected` (polled every `--poll` s).
2. **tasks** - RunTask with `count=10` (one container: memory 64, port 8080 ->
   host port 0) from `--clients` concurrent boto3 clients until `--tasks` tasks
   are placed; then DescribeTasks (100 per call, only those not yet RUNNING,
   every `--poll` s) until all are RUNNING.

Prints instances/s and tasks/s, and the CPU seconds the server process and this
process (the agents plus the client) used in each phase: when this process is
near 100 % of a core, the simulation, not the server, is the limit.

    .venv/bin/python bench/agents_scale.py --agents 100 [--tasks 1000] [--json out.json]
    .venv/bin/python bench/agents_scale.py --agents 500 --time-limit 240

Bounded: each phase has its own time limit and the whole run `--time-limit`;
agents are cancelled, the server stopped and temporary dirs removed on exit,
errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _servers import ServerSet, dockyard_server, install_signal_handlers

CLUSTER_PREFIX = "bench-scale"
TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


def host_ip(index: int) -> str:
    """0 -> 127.0.1.1, 253 -> 127.0.1.254, 254 -> 127.0.2.1 ... (loopback only)."""
    high, low = divmod(index, 254)
    if high + 1 > 255:
        raise BenchError("at most 254 * 255 simulated agents")
    return f"127.0.{high + 1}.{low + 1}"


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (all its threads)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.mark()

    def mark(self) -> None:
        self.t = time.monotonic()
        self.server = cpu_seconds(self.server_pid)
        self.me = time.process_time()

    def since(self) -> dict[str, float]:
        wall = max(1e-9, time.monotonic() - self.t)
        server = cpu_seconds(self.server_pid) - self.server
        me = time.process_time() - self.me
        return {
            "wall_s": wall,
            "server_cpu_s": server,
            "bench_cpu_s": me,
            "server_cpu_pct": 100 * server / wall,
            "bench_cpu_pct": 100 * me / wall,
        }


def cpu_line(cpu: dict[str, float]) -> str:
    return (
        f"server {cpu['server_cpu_s']:.1f} CPU-s ({cpu['server_cpu_pct']:.0f} % of a core), "
        f"agents+client {cpu['bench_cpu_s']:.1f} CPU-s ({cpu['bench_cpu_pct']:.0f} %)"
    )


def ecs_client(endpoint: str, pool: int = 10) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "ecs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=60, max_pool_connections=pool),
    )


def source_env(dockyard_src: str | None) -> dict[str, str] | None:
    """PYTHONPATH for `--dockyard-src DIR` (DIR or DIR/src holds the dockyard package)."""
    if not dockyard_src:
        return None
    src = Path(dockyard_src).resolve()
    if (src / "src" / "dockyard").is_dir():
        src = src / "src"
    if not (src / "dockyard").is_dir():
        raise SystemExit(f"--dockyard-src: no dockyard package in {src}")
    print(f"dockyard source: {src}")
    return {"PYTHONPATH": str(src)}


class LagProbe:
    """How late the event loop wakes a 50 ms sleep: the simulation's own saturation."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.lags.append(time.monotonic() - before - 0.05)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def take(self) -> dict[str, float]:
        lags, self.lags = self.lags, []
        if not lags:
            return {}
        lags.sort()
        return {
            "loop_lag_p50_ms": 1000 * statistics.median(lags),
            "loop_lag_max_ms": 1000 * lags[-1],
        }


async def wait_for(
    what: str, check: Callable[[], Any], until: float, poll: float
) -> tuple[float, Any]:
    """Call `check` (blocking, on a thread) every `poll` s until it returns truthy."""
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return time.monotonic(), result
        if time.monotonic() > until:
            raise BenchError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def run_bench(args: argparse.Namespace, endpoint: str, server_pid: int | None) -> dict:
    from dockyard.agent.config import build_config
    from dockyard.agent.main import run_agent

    loop = asyncio.get_running_loop()
    # Every run_agent installs SIGINT/SIGTERM handlers on the loop (the last one would win):
    # keep ours, which cancel the whole benchmark.
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    loop.add_signal_handler = lambda *_args, **_kw: None  # type: ignore[method-assign]
    # asyncio.to_thread's default pool is min(32, cores + 4) threads, shared by all agents;
    # real agents each have their own. --threads sets it.
    loop.set_default_executor(ThreadPoolExecutor(args.threads, thread_name_prefix="bench"))

    deadline = time.monotonic() + args.time_limit
    tag = uuid.uuid4().hex[:8]
    cluster = f"{CLUSTER_PREFIX}-{tag}"
    work = Path(tempfile.mkdtemp(prefix="bench-agents-scale-"))
    ecs = ecs_client(endpoint, pool=max(10, args.clients))
    await asyncio.to_thread(ecs.create_cluster, clusterName=cluster)
    summary: dict[str, Any] = {"agents": args.agents, "cluster": cluster}
    agents: list[asyncio.Task[None]] = []
    halt = threading.Event()  # tells the blocking client threads to stop early
    probe = LagProbe()
    probe.start()
    meter = CpuMeter(server_pid)
    try:
        # -- phase 1: join --------------------------------------------------------------------
        ready_files = [work / f"ready-{i}" for i in range(args.agents)]
        t0 = time.monotonic()
        for index in range(args.agents):
            config = build_config(
                {
                    "endpoint": endpoint,
                    "cluster": cluster,
                    "host_ip": host_ip(index),
                    "cpu": 2048,
                    "memory": 2048,
                    "data_dir": str(work / f"agent-{index}"),
                    "fake_runtime": True,
                    "cleanup_wait": "10s",
                },
                None,
            )
            agents.append(asyncio.create_task(run_agent(config, ready_file=ready_files[index])))
        join_until = min(deadline, t0 + args.phase_limit)

        def registered() -> bool:
            for task in agents:
                if task.done() and not task.cancelled() and task.exception():
                    raise BenchError(f"an agent failed: {task.exception()!r}")
            return all(f.exists() and f.stat().st_size for f in ready_files)

        t_registered, _ = await wait_for("registration", registered, join_until, 0.02)

        def connected() -> bool:
            arns: list[str] = []
            for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
                arns += page["containerInstanceArns"]
            if len(arns) < args.agents:
                return False
            up = 0
            for start in range(0, len(arns), 100):
                found = ecs.describe_container_instances(
                    cluster=cluster, containerInstances=arns[start : start + 100]
                )["containerInstances"]
                up += sum(1 for i in found if i.get("agentConnected"))
            return up >= args.agents

        t_connected, _ = await wait_for("agentConnected", connected, join_until, args.poll)
        join = {
            "registered_s": t_registered - t0,
            "connected_s": t_connected - t0,
            "instances_per_s": args.agents / (t_connected - t0),
            **meter.since(),
            **probe.take(),
        }
        summary["join"] = join
        print(
            f"join: {args.agents} agents registered in {join['registered_s']:.2f} s, all "
            f"agentConnected in {join['connected_s']:.2f} s -> "
            f"{join['instances_per_s']:.1f} instances/s"
        )
        print(
            f"  {cpu_line(join)}; loop lag p50 {join.get('loop_lag_p50_ms', 0):.0f} ms"
            f" max {join.get('loop_lag_max_ms', 0):.0f} ms"
        )

        # -- phase 2: tasks -------------------------------------------------------------------
        family = f"bench-scale-{tag}"
        taskdef = (
            await asyncio.to_thread(
                ecs.register_task_definition,
                family=family,
                networkMode="bridge",
                containerDefinitions=[
                    {
                        "name": "web",
                        "image": "dockyard-demo/web:1",
                        "memory": 64,
                        "essential": True,
                        "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                    }
                ],
            )
        )["taskDefinition"]["taskDefinitionArn"]
        meter.mark()
        probe.take()
        tasks_until = min(deadline, time.monotonic() + args.phase_limit)
        placed: list[str] = []
        failures: list[str] = []
        call_times: list[float] = []
        max_calls = args.tasks // 10 + 50  # bounded even if many calls place nothing

        claim = threading.Lock()
        claimed = [0]  # tasks asked for or placed: concurrent clients never overshoot

        def client_loop(client: Any) -> None:
            while (
                not halt.is_set()
                and len(call_times) < max_calls
                and time.monotonic() <= tasks_until
            ):
                with claim:
                    count = min(10, args.tasks - claimed[0])
                    claimed[0] += max(0, count)
                if count <= 0:
                    return
                before = time.perf_counter()
                answer = client.run_task(cluster=cluster, taskDefinition=taskdef, count=count)
                call_times.append(time.perf_counter() - before)
                placed.extend(t["taskArn"] for t in answer["tasks"])
                failures.extend(f.get("reason", "?") for f in answer.get("failures", []))
                with claim:
                    claimed[0] -= count - len(answer["tasks"])

        clients = [ecs] + [ecs_client(endpoint) for _ in range(args.clients - 1)]
        t1 = time.monotonic()
        await asyncio.gather(*(asyncio.to_thread(client_loop, c) for c in clients))
        t_placed = time.monotonic()
        if len(placed) < args.tasks:
            raise BenchError(
                f"only {len(placed)} of {args.tasks} tasks placed "
                f"(failures: {sorted(set(failures))[:5]})"
            )
        place_cpu = meter.since()
        pending = set(placed)

        def all_running() -> bool:
            batch = list(pending)
            for start in range(0, len(batch), 100):
                found = ecs.describe_tasks(cluster=cluster, tasks=batch[start : start + 100])
                for task in found["tasks"]:
                    if task["lastStatus"] == "RUNNING":
                        pending.discard(task["taskArn"])
                    elif task["lastStatus"] == "STOPPED":
                        raise BenchError(f"task stopped: {task.get('stoppedReason')}")
            return not pending

        t_running, _ = await wait_for("all tasks RUNNING", all_running, tasks_until, args.poll)
        run_phase = {
            "tasks": len(placed),
            "run_task_calls": len(call_times),
            "clients": args.clients,
            "place_s": t_placed - t1,
            "placed_per_s": len(placed) / (t_placed - t1),
            "run_task_p50_ms": 1000 * statistics.median(call_times),
            "run_task_p90_ms": 1000 * sorted(call_times)[int(0.9 * (len(call_times) - 1))],
            "all_running_s": t_running - t1,
            "running_per_s": len(placed) / (t_running - t1),
            "after_last_run_task_s": t_running - t_placed,
            "place_server_cpu_pct": place_cpu["server_cpu_pct"],
            "place_bench_cpu_pct": place_cpu["bench_cpu_pct"],
            **meter.since(),
            **probe.take(),
        }
        summary["tasks"] = run_phase
        print(
            f"tasks: {len(placed)} placed by {len(call_times)} RunTask calls (count=10, "
            f"{args.clients} client(s)) in {run_phase['place_s']:.2f} s -> "
            f"{run_phase['placed_per_s']:.0f} tasks/s placed "
            f"(RunTask p50 {run_phase['run_task_p50_ms']:.0f} ms, "
            f"p90 {run_phase['run_task_p90_ms']:.0f} ms)"
        )
        print(
            f"  all RUNNING {run_phase['all_running_s']:.2f} s after the first RunTask "
            f"({run_phase['after_last_run_task_s']:.2f} s after the last) -> "
            f"{run_phase['running_per_s']:.0f} tasks/s started"
        )
        print(
            f"  placing: server {run_phase['place_server_cpu_pct']:.0f} % of a core, agents+client "
            f"{run_phase['place_bench_cpu_pct']:.0f} %; whole phase: {cpu_line(run_phase)}; "
            f"loop lag p50 {run_phase.get('loop_lag_p50_ms', 0):.0f} ms "
            f"max {run_phase.get('loop_lag_max_ms', 0):.0f} ms"
        )
        return summary
    finally:
        if probe.task is not None:
            probe.task.cancel()
        for task in agents:
            task.cancel()
        stopped = time.monotonic() + 20
        for task in agents:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, max(0.1, stopped - time.monotonic()))
        halt.set()
        # Threads of cancelled agents (registration) still write into their data dirs:
        # let them finish before removing the dirs.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(loop.shutdown_default_executor(), 20)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks to place (10 per call)")
    parser.add_argument("--clients", type=int, default=1, help="concurrent RunTask clients")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between API polls")
    parser.add_argument("--threads", type=int, default=32, help="this process's to_thread pool")
    parser.add_argument("--phase-limit", type=float, default=120.0, help="seconds per phase")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds in all")
    parser.add_argument("--agent-grace", type=float, default=300.0)
    parser.add_argument("--server-log-level", default="warning")
    parser.add_argument(
        "--dockyard-src",
        metavar="DIR",
        help="run Dockyard from DIR or DIR/src (e.g. a `git archive` of a commit)",
    )
    parser.add_argument("--json", metavar="FILE", help="also save the figures")
    args = parser.parse_args()
    if not 1 <= args.agents <= 254 * 255 or not 1 <= args.clients <= 32:
        parser.error("--agents 1..64770, --clients 1..32")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    install_signal_handlers()
    env = source_env(args.dockyard_src)
    if env:  # the in-process agents too
        sys.path.insert(0, env["PYTHONPATH"])
    with ServerSet() as servers:
        server = servers.start(
            dockyard_server(
                extra_args=[
                    "--agent-grace",
                    str(args.agent_grace),
                    "--log-level",
                    args.server_log_level,
                ],
                env=env,
            )
        )
        server.wait_ready(30)
        print(f"dockyard server {server.endpoint}, {args.agents} simulated agents in this process")
        try:
            summary = asyncio.run(run_bench(args, server.endpoint, server.pid))
        except BenchError as error:
            print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
            sys.exit(f"agents_scale: {error}")
        except asyncio.CancelledError:
            sys.exit("agents_scale: interrupted")
        finally:
            install_signal_handlers()  # asyncio.run put the default handlers back
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
