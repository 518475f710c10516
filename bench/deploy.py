"""Service deployments: rolling a 20-task service to a new revision, and replacing a killed task.

One `dockyard server` per runtime; a REPLICA service of `--desired` (20) tasks of
one container (`dockyard-demo/web:1`, memory 32, 8080 -> host port 0, no health
check: RUNNING = healthy). After it is steady, each round:

1. **rollout 50/200** - `UpdateService` to a new revision with
   `minimumHealthyPercent` 50, `maximumPercent` 200;
2. **rollout 100/200** - the same with 100/200;

each timed from the `UpdateService` call until `DescribeServices` (every
`--poll` s) shows one deployment left, the new one, `rolloutState` COMPLETED and
`runningCount` = desired. Then **kill** (`--kills` times): one RUNNING task's
container dies (`docker kill` through the Engine API, or `FakeRuntime.kill`),
timed until a replacement task is RUNNING.

Runtimes (`--runtimes fake,docker`):

- **fake** - `--fake-agents` (4) simulated agents (`FakeRuntime`: containers
  start at once) in this process, in one asyncio loop on a thread, through
  `run_agent`. What is left is the control plane: controller ticks
  (`dockyard.controllers.services.loop.INTERVAL_S`), placement, the push to
  the agents, their reports.
- **docker** - 2 agent subprocesses on Docker, `--host-ip` 127.0.1.1 and
  127.0.1.2, `--cpu 4096 --memory 8192` each (all 40 tasks of a 200 %
  rollout fit), `--cleanup-wait 3s`, the default stop timeout (the image
  exits on SIGTERM).

The physical floor, measured in the same run before the Docker agents start
(`docker run -d -p 127.0.1.1::8080` of the same image): one start (median of
`--floor-runs`), one `docker stop` (median), then 20 `docker run -d` started
at once (wall time until the last CLI returns) and those 20 `docker stop`ped
at once. The rollout floor is "20 parallel starts, then 20 parallel stops" - a
rollout by hand with every step in parallel and no waiting (the new tasks must
run before the last old ones may stop); also shown against "20 sequential
starts". The kill floor is one start. The fake runtime has no physical floor:
its figures are shown against the controller's tick model (3 reconcile steps
per rollout: start (+stop), stop the rest, COMPLETED; about INTERVAL_S/2 +
2 x INTERVAL_S after the update, the first step landing on average half a
tick after it). Before each update and each kill the benchmark waits a random
part of a tick, so that phase is sampled fairly (`--no-jitter`: don't).

Where the time goes, from the tasks' own timestamps (server and agents share
this machine's clock; server times have ms precision) and the service events
(one per controller step that started or stopped tasks): first controller step
after the update, new tasks placed -> picked up by the agent (pullStartedAt)
-> container started (startedAt), old tasks' stop request (event time) ->
STOPPED, last old STOPPED -> COMPLETED event (tick wait) -> seen by the client.
On Docker the engine's own events of this run's containers (`create`, `start`,
`kill` = SIGTERM sent, `die`, `stop`; ns timestamps) split the agent's run and
stop calls into time queued in dockerd, the process's exit and dockerd's
teardown. CPU over each rollout: the whole machine (/proc/stat), the server,
the agents (or this process for the simulated ones).

    .venv/bin/python bench/deploy.py                     # both runtimes, ~1-2 min
    .venv/bin/python bench/deploy.py --runtimes fake     # ~15 s
    .venv/bin/python bench/deploy.py --rounds 2 --kills 5 --json out.json

Bounded (`--time-limit`, `--step-limit` per wait); loopback only. Cleans up on
exit, errors, Ctrl-C and SIGTERM: agents (thread or subprocesses), the server,
every container of this run's clusters (`com.dockyard.cluster` label, i.e. the
`com.dockyard.task-arn` containers of this run) and the bare floor containers
(`com.dockyard.bench` label).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _servers import (
    ServerProcess,
    ServerSet,
    dockyard_server,
    install_signal_handlers,
    process_cpu_seconds,
)

IMAGE = "dockyard-demo/web:1"
BENCH_LABEL = "com.dockyard.bench"
CLUSTER_LABEL = "com.dockyard.cluster"
TASK_LABEL = "com.dockyard.task-arn"
DOCKER_HOSTS = ("127.0.1.1", "127.0.1.2")
CONFIGS = ((50, 200), (100, 200))
TASK_ID = re.compile(r"\(task ([0-9a-f]+)\)")


class BenchError(RuntimeError):
    pass


# --- small helpers --------------------------------------------------------------------------


def ecs_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "ecs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=30, tcp_keepalive=True),
    )


def ts(value: Any) -> float | None:
    """A boto3 timestamp (datetime) or a float as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def chunks(items: Sequence[str], size: int = 100) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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


def controller_interval() -> float:
    from dockyard.controllers.services.loop import INTERVAL_S

    return float(INTERVAL_S)


# --- the service under test -----------------------------------------------------------------


@dataclass
class Service:
    ecs: Any
    cluster: str
    name: str
    desired: int
    poll_s: float
    deadline: float  # monotonic, the whole run
    step_limit: float
    family: str = ""
    revisions: list[str] = field(default_factory=list)
    # Optional: the engine's container events of this run between two epoch times (Docker).
    engine_events: Callable[[float, float], list[dict[str, Any]]] | None = None
    # Optional: CPU seconds so far of the processes involved, by name.
    cpu: Callable[[], dict[str, float]] | None = None
    # Wait a random part of a controller tick before each update/kill: the previous wait
    # ends right after the tick that completed it, which would bias the first-step wait.
    jitter_s: float = 0.0

    def _jitter(self) -> None:
        if self.jitter_s > 0:
            time.sleep(random.uniform(0, self.jitter_s))

    def _cpu_mark(self) -> tuple[float, dict[str, float]]:
        return machine_busy(), self.cpu() if self.cpu else {}

    def _cpu_since(self, mark: tuple[float, dict[str, float]], wall: float) -> dict[str, float]:
        busy, processes = mark
        out = {"machine_cores_busy": (machine_busy() - busy) / wall}
        if self.cpu:
            now = self.cpu()
            out.update({f"{k}_cores": (now[k] - processes.get(k, 0.0)) / wall for k in now})
        return out

    def _until(self) -> float:
        return min(self.deadline, time.monotonic() + self.step_limit)

    def register_revision(self) -> str:
        number = len(self.revisions) + 1
        arn = self.ecs.register_task_definition(
            family=self.family,
            networkMode="bridge",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": IMAGE,
                    "memory": 32,
                    "essential": True,
                    "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                    "environment": [{"name": "BENCH_REVISION", "value": str(number)}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        self.revisions.append(arn)
        return str(arn)

    def describe(self) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=self.cluster, services=[self.name])
        if not found["services"]:
            raise BenchError(f"service {self.name} missing: {found.get('failures')}")
        return dict(found["services"][0])

    def done(self, service: dict[str, Any], deployment_id: str) -> bool:
        deployments = service["deployments"]
        return (
            len(deployments) == 1
            and deployments[0]["id"] == deployment_id
            and deployments[0].get("rolloutState") == "COMPLETED"
            and deployments[0].get("runningCount") == self.desired
            and service.get("runningCount") == self.desired
        )

    def wait_done(self, deployment_id: str, what: str) -> float:
        """Poll until `deployment_id` is the only deployment, COMPLETED, all RUNNING."""
        until = self._until()
        while True:
            service = self.describe()
            if self.done(service, deployment_id):
                return time.time()
            if time.monotonic() > until:
                states = [
                    (d["id"][-6:], d["status"], d.get("rolloutState"), d.get("runningCount"))
                    for d in service["deployments"]
                ]
                raise BenchError(
                    f"timed out waiting for {what}: deployments {states}; "
                    f"events: {[e['message'] for e in service.get('events', [])[:3]]}"
                )
            time.sleep(self.poll_s)

    def create(self) -> float:
        """CreateService (first revision) and wait until steady; returns seconds taken."""
        taskdef = self.register_revision()
        t0 = time.time()
        created = self.ecs.create_service(
            cluster=self.cluster,
            serviceName=self.name,
            taskDefinition=taskdef,
            desiredCount=self.desired,
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
        )["service"]
        primary = next(d for d in created["deployments"] if d["status"] == "PRIMARY")
        return self.wait_done(primary["id"], "the service's first deployment") - t0

    def tasks(self) -> list[dict[str, Any]]:
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            pages = self.ecs.get_paginator("list_tasks").paginate(
                cluster=self.cluster, serviceName=self.name, desiredStatus=status
            )
            for page in pages:
                arns += page["taskArns"]
        found: list[dict[str, Any]] = []
        for batch in chunks(sorted(set(arns))):
            found += self.ecs.describe_tasks(cluster=self.cluster, tasks=list(batch))["tasks"]
        return found

    def running_arns(self) -> set[str]:
        arns: set[str] = set()
        pages = self.ecs.get_paginator("list_tasks").paginate(
            cluster=self.cluster, serviceName=self.name, desiredStatus="RUNNING"
        )
        for page in pages:
            arns.update(page["taskArns"])
        return arns

    # -- rollout ---------------------------------------------------------------------------
    def rollout(self, minimum: int, maximum: int) -> dict[str, Any]:
        taskdef = self.register_revision()
        before = self.describe()
        old_ids = {d["id"] for d in before["deployments"]}
        self._jitter()
        mark = self._cpu_mark()
        t0 = time.time()
        answer = self.ecs.update_service(
            cluster=self.cluster,
            service=self.name,
            taskDefinition=taskdef,
            deploymentConfiguration={
                "maximumPercent": maximum,
                "minimumHealthyPercent": minimum,
            },
        )["service"]
        t_call = time.time()
        new_id = next(d["id"] for d in answer["deployments"] if d["status"] == "PRIMARY")
        t_done = self.wait_done(new_id, f"rollout {minimum}/{maximum}")
        cpu = self._cpu_since(mark, t_done - t0)
        service = self.describe()
        engine = self.engine_events(t0 - 0.5, time.time()) if self.engine_events else None
        timeline = rollout_timeline(
            t0,
            t_done,
            new_id=new_id,
            old_ids=old_ids,
            tasks=self.tasks(),
            events=service.get("events", []),
            desired=self.desired,
            engine=engine,
        )
        timeline.update(cpu)
        timeline["update_service_call_s"] = t_call - t0
        timeline["config"] = f"{minimum}/{maximum}"
        return timeline

    # -- a killed task ---------------------------------------------------------------------
    def kill_one(
        self, find: Callable[[str], str | None], kill: Callable[[str], None]
    ) -> dict[str, Any]:
        """Kill one RUNNING task's container; time until a replacement task is RUNNING."""
        before = self.running_arns()
        if len(before) != self.desired:
            raise BenchError(f"{len(before)} tasks wanted RUNNING before the kill")
        victim, container = None, None
        for arn in sorted(before):
            container = find(arn)
            if container:
                victim = arn
                break
        if victim is None or container is None:
            raise BenchError("no container of the service found to kill")
        self._jitter()
        t0 = time.time()
        kill(container)
        t_killed = time.time()
        until = self._until()
        replacement = None
        while replacement is None:
            fresh = sorted(self.running_arns() - before)
            if fresh:
                for task in self.ecs.describe_tasks(cluster=self.cluster, tasks=fresh)["tasks"]:
                    if task["lastStatus"] == "RUNNING":
                        replacement = task
                        break
            if replacement is None:
                if time.monotonic() > until:
                    raise BenchError("timed out waiting for the replacement task")
                time.sleep(self.poll_s)
        t_seen = time.time()
        dead = self.ecs.describe_tasks(cluster=self.cluster, tasks=[victim])["tasks"][0]

        def rel(value: Any) -> float | None:
            stamp = ts(value)
            return None if stamp is None else stamp - t0

        engine: dict[str, float | None] = {}
        if self.engine_events:
            seen = engine_times(self.engine_events(t0 - 0.5, time.time()))
            engine = {
                "victim_die_s": rel(seen.get((victim, "die"))),
                "replacement_create_s": rel(seen.get((replacement["taskArn"], "create"))),
                "replacement_start_s": rel(seen.get((replacement["taskArn"], "start"))),
            }
        return {
            **engine,
            "total_s": t_seen - t0,
            "kill_call_s": t_killed - t0,
            "victim_stopped_s": rel(dead.get("stoppedAt")),  # the server learned of the death
            "victim_stop_code": dead.get("stopCode"),
            "replacement_created_s": rel(replacement.get("createdAt")),  # controller step
            "replacement_pull_started_s": rel(replacement.get("pullStartedAt")),  # agent got it
            "replacement_started_s": rel(replacement.get("startedAt")),  # container up
            "seen_s": t_seen - t0,
        }


def rollout_timeline(
    t0: float,
    t_done: float,
    *,
    new_id: str,
    old_ids: set[str],
    tasks: list[dict[str, Any]],
    events: list[dict[str, Any]],
    desired: int,
    engine: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Where a rollout's time went, in seconds after the UpdateService call."""
    new = [t for t in tasks if t.get("startedBy") == new_id]
    old = [
        t
        for t in tasks
        if t.get("startedBy") in old_ids and (ts(t.get("stoppedAt")) or t0 + 1) > t0
    ]
    # Controller steps: events after t0 that started or stopped tasks, with their task ids.
    stop_requested: dict[str, float] = {}
    steps: dict[float, dict[str, int]] = {}
    completed_at = None
    for event in events:
        at = ts(event["createdAt"])
        if at is None or at < t0 - 0.002:
            continue
        message = event["message"]
        if "has stopped" in message or "has started" in message:
            kind = "stopped" if "has stopped" in message else "started"
            ids = TASK_ID.findall(message)
            steps.setdefault(at, {"started": 0, "stopped": 0})[kind] += len(ids)
            if kind == "stopped":
                for tid in ids:
                    stop_requested.setdefault(tid, at)
        elif "deployment completed" in message and new_id in message:
            completed_at = at

    def rel(value: float | None) -> float | None:
        return None if value is None else value - t0

    def stamps(group: list[dict[str, Any]], key: str) -> list[float]:
        return sorted(v for v in (ts(t.get(key)) for t in group) if v is not None)

    created = stamps(new, "createdAt")
    picked = stamps(new, "pullStartedAt")
    started = stamps(new, "startedAt")
    runs = [
        s - p
        for s, p in ((ts(t.get("startedAt")), ts(t.get("pullStoppedAt"))) for t in new)
        if s is not None and p is not None
    ]
    pushes = [
        p - c
        for p, c in ((ts(t.get("pullStartedAt")), ts(t.get("createdAt"))) for t in new)
        if p is not None and c is not None
    ]
    stop_durations = []
    stopping_lags = []
    for task in old:
        asked = stop_requested.get(task_id(task["taskArn"]))
        stopped, stopping = ts(task.get("stoppedAt")), ts(task.get("stoppingAt"))
        if asked is not None and stopped is not None:
            stop_durations.append(stopped - asked)
        if asked is not None and stopping is not None:
            stopping_lags.append(stopping - asked)
    old_stopped = stamps(old, "stoppedAt")
    ordered_steps = sorted(steps.items())
    phases: dict[str, float | None] = {}
    if engine is not None:
        seen = engine_times(engine)

        Stamp = Callable[[dict[str, Any]], float | None]

        def gaps(group: list[dict[str, Any]], first: Stamp, then: Stamp) -> list[float]:
            out = []
            for task in group:
                a, b = first(task), then(task)
                if a is not None and b is not None:
                    out.append(b - a)
            return out

        def stop_asked(task: dict[str, Any]) -> float | None:
            return stop_requested.get(task_id(task["taskArn"]))

        def engine_at(action: str) -> Stamp:
            return lambda task: seen.get((task["taskArn"], action))

        def stamp(key: str) -> Stamp:
            return lambda task: ts(task.get(key))

        create, start, kill = engine_at("create"), engine_at("start"), engine_at("kill")
        die, stop = engine_at("die"), engine_at("stop")
        phases = {
            # new tasks: the agent's run = create + start + inspect, split by the engine
            "eng_pulled_to_create_p50_s": med(gaps(new, stamp("pullStoppedAt"), create)),
            "eng_create_to_start_p50_s": med(gaps(new, create, start)),
            "eng_create_to_start_max_s": max(gaps(new, create, start), default=None),
            "eng_start_to_started_p50_s": med(gaps(new, start, stamp("startedAt"))),
            # old tasks: stop request -> SIGTERM sent -> exited -> stop done -> STOPPED
            "eng_asked_to_sigterm_p50_s": med(gaps(old, stop_asked, kill)),
            "eng_asked_to_sigterm_max_s": max(gaps(old, stop_asked, kill), default=None),
            "eng_sigterm_to_die_p50_s": med(gaps(old, kill, die)),
            "eng_die_to_stop_p50_s": med(gaps(old, die, stop)),
            "eng_die_to_stop_max_s": max(gaps(old, die, stop), default=None),
            "eng_stop_to_stopped_p50_s": med(gaps(old, stop, stamp("stoppedAt"))),
        }
    return {
        **phases,
        "total_s": t_done - t0,
        "new_tasks": len(new),
        "old_tasks": len(old),
        "steps": [
            {"at_s": at - t0, "started": c["started"], "stopped": c["stopped"]}
            for at, c in ordered_steps
        ],
        "first_step_s": rel(ordered_steps[0][0]) if ordered_steps else None,
        "new_created_first_s": rel(created[0]) if created else None,
        "new_created_last_s": rel(created[-1]) if created else None,
        "push_p50_s": med(pushes),  # createdAt -> pullStartedAt (server push + agent start)
        "docker_run_p50_s": med(runs),  # pullStoppedAt -> startedAt (create + start + inspect)
        "docker_run_max_s": max(runs) if runs else None,
        "new_picked_last_s": rel(picked[-1]) if picked else None,
        "new_started_first_s": rel(started[0]) if started else None,
        "new_started_last_s": rel(started[-1]) if started else None,
        "stop_to_stopping_p50_s": med(stopping_lags),
        "stop_to_stopped_p50_s": med(stop_durations),
        "stop_to_stopped_max_s": max(stop_durations) if stop_durations else None,
        "old_stopped_last_s": rel(old_stopped[-1]) if old_stopped else None,
        "completed_event_s": rel(completed_at),
        "seen_s": t_done - t0,
        "desired": desired,
    }


def engine_times(events: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(task ARN, action) -> epoch seconds of the engine's first such event."""
    out: dict[tuple[str, str], float] = {}
    for event in events:
        arn = event.get("Actor", {}).get("Attributes", {}).get(TASK_LABEL)
        action = event.get("Action") or event.get("status")
        if arn and action and "timeNano" in event:
            out.setdefault((arn, action), event["timeNano"] / 1e9)
    return out


def machine_busy() -> float:
    """CPU seconds all cores spent outside idle/iowait since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


# --- fake runtime: simulated agents in this process -----------------------------------------


class FakeAgents:
    """`run_agent` x N with `FakeRuntime`, in one asyncio loop on a thread of this process."""

    def __init__(self, endpoint: str, cluster: str, count: int, work: Path) -> None:
        self.endpoint = endpoint
        self.cluster = cluster
        self.count = count
        self.work = work
        self.runtimes: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._up = threading.Event()

    def start(self, timeout: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="fake-agents", daemon=True)
        self._thread.start()
        ready = [self.work / f"ready-{i}" for i in range(self.count)]
        until = time.monotonic() + timeout
        while not all(f.exists() and f.stat().st_size for f in ready):
            if self.error is not None:
                raise BenchError(f"a simulated agent failed: {self.error!r}")
            if time.monotonic() > until:
                raise BenchError("simulated agents not registered in time")
            time.sleep(0.02)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self.error = error

    async def _main(self) -> None:
        from dockyard.agent import main as agent_main
        from dockyard.agent.config import build_config
        from dockyard.testing.fake_runtime import FakeRuntime

        loop = asyncio.get_running_loop()
        # run_agent installs SIGINT/SIGTERM handlers; not possible (nor wanted) off the main
        # thread: the benchmark's own handlers stay in charge.
        loop.add_signal_handler = lambda *_args, **_kw: None  # type: ignore[method-assign]
        self.loop = loop
        self._stop = asyncio.Event()

        async def fake_runtime(_config: Any) -> tuple[Any, str]:
            runtime = FakeRuntime()
            self.runtimes.append(runtime)  # kept, so the benchmark can kill a container
            return runtime, "fake"

        agent_main._runtime = fake_runtime  # type: ignore[assignment]  # this process only
        agents = []
        for index in range(self.count):
            config = build_config(
                {
                    "endpoint": self.endpoint,
                    "cluster": self.cluster,
                    "host_ip": f"127.0.2.{index + 1}",
                    "cpu": 4096,
                    "memory": 8192,
                    "data_dir": str(self.work / f"agent-{index}"),
                    "fake_runtime": True,
                    "cleanup_wait": "3s",
                },
                None,
            )
            agents.append(
                asyncio.create_task(
                    agent_main.run_agent(config, ready_file=self.work / f"ready-{index}")
                )
            )
        waiter = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([waiter, *agents], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not waiter and not task.cancelled() and task.exception():
                    self.error = task.exception()
        finally:
            waiter.cancel()
            for task in agents:
                task.cancel()
            for task in agents:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 10)

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` on the agents' loop (FakeRuntime is not thread-safe) and return its result."""
        if self.loop is None or self.error is not None:
            raise BenchError(f"simulated agents are not running: {self.error!r}")

        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def find(self, task_arn: str) -> str | None:
        def lookup() -> str | None:
            for runtime in self.runtimes:
                for state in runtime.containers:
                    if state.task_arn == task_arn and state.status == "running":
                        return str(state.id)
            return None

        return self.call(lookup)  # type: ignore[no-any-return]

    def kill(self, container_id: str) -> None:
        def crash() -> None:
            for runtime in self.runtimes:
                if any(s.id == container_id for s in runtime.containers):
                    runtime.kill(container_id, 137)

        self.call(crash)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(20)


# --- Docker: bare floor and agent subprocesses ----------------------------------------------


def docker_run(label: str, timeout: float = 60.0) -> tuple[float, str]:
    argv = ["docker", "run", "-d", "--label", label, "-p", f"{DOCKER_HOSTS[0]}::8080", IMAGE]
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise BenchError(f"docker run failed: {done.stderr.strip()}")
    return elapsed, done.stdout.strip()


def remove_by_label(docker_api: Any, labels: Sequence[str]) -> int:
    ids: list[str] = []
    for label in labels:
        with contextlib.suppress(Exception):
            ids += [c["Id"] for c in docker_api.containers(all=True, filters={"label": label})]

    def remove(container: str) -> bool:
        try:
            docker_api.remove_container(container, force=True)
        except Exception:
            return False
        return True

    if not ids:
        return 0
    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(remove, ids))


def docker_stop(container: str) -> None:
    subprocess.run(
        ["docker", "stop", "-t", "10", container], check=True, capture_output=True, timeout=30
    )


def measure_floor(docker_api: Any, label: str, runs: int, parallel: int) -> dict[str, Any]:
    """docker run -d: single starts (median), docker stop (median); N started at once, then
    the same N stopped at once (a bare-Docker rollout with every step in parallel)."""
    singles, stops = [], []
    try:
        docker_run(label)  # warm-up: first start after a while pays for cold caches
        remove_by_label(docker_api, [label])
        for _ in range(runs):
            elapsed, container = docker_run(label)
            singles.append(elapsed)
            t0 = time.perf_counter()
            docker_stop(container)
            stops.append(time.perf_counter() - t0)
            remove_by_label(docker_api, [label])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            containers = [c for _s, c in pool.map(lambda _i: docker_run(label), range(parallel))]
        parallel_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(docker_stop, containers))
        parallel_stop_s = time.perf_counter() - t0
    finally:
        remove_by_label(docker_api, [label])
    return {
        "start_s": med(singles),
        "starts_s": singles,
        "stop_s": med(stops),
        "stops_s": stops,
        "parallel_n": parallel,
        "parallel_s": parallel_s,
        "parallel_stop_s": parallel_stop_s,
        "sequential_s": parallel * med(singles),
        "rollout_floor_s": parallel_s + parallel_stop_s,
    }


def start_docker_agent(
    servers: ServerSet,
    endpoint: str,
    cluster: str,
    host_ip: str,
    work: Path,
    *,
    env: dict[str, str] | None,
) -> ServerProcess:
    ready = work / f"ready-{host_ip}"
    argv = [sys.executable, "-m", "dockyard", "agent", "--endpoint", endpoint]
    argv += ["--cluster", cluster, "--host-ip", host_ip, "--cpu", "4096", "--memory", "8192"]
    argv += ["--data-dir", str(work / f"agent-{host_ip}"), "--cleanup-wait", "3s"]
    argv += ["--ready-file", str(ready), "--log-level", "info"]
    agent = ServerProcess(f"agent-{host_ip}", argv, health_path=None, env=env, log_dir=work)
    servers.start(agent)
    return agent


def wait_agents_ready(agents: list[ServerProcess], work: Path, until: float) -> None:
    for agent in agents:
        ready = work / f"ready-{agent.name.removeprefix('agent-')}"
        while not (ready.exists() and ready.read_text().strip()):
            assert agent.proc is not None
            if agent.proc.poll() is not None:
                raise BenchError(f"{agent.name} exited:\n{agent.log_tail()}")
            if time.monotonic() > until:
                raise BenchError(f"{agent.name} not registered in time:\n{agent.log_tail()}")
            time.sleep(0.05)


# --- one runtime, end to end ----------------------------------------------------------------


def exercise(
    service: Service,
    *,
    rounds: int,
    kills: int,
    find: Callable[[str], str | None],
    kill: Callable[[str], None],
    label: str,
) -> dict[str, Any]:
    result: dict[str, Any] = {"rollouts": [], "kills": []}
    result["create_s"] = service.create()
    print(
        f"  [{label}] service of {service.desired} steady {result['create_s']:.2f} s after CreateService"
    )
    for index in range(rounds):
        for minimum, maximum in CONFIGS:
            if time.monotonic() > service.deadline:
                print(f"  [{label}] time limit: rollouts stopped")
                return result
            timeline = service.rollout(minimum, maximum)
            timeline["round"] = index + 1
            result["rollouts"].append(timeline)
            print(
                f"  [{label}] round {index + 1} rollout {minimum}/{maximum}: "
                f"{timeline['total_s']:.2f} s",
                flush=True,
            )
    for _ in range(kills):
        if time.monotonic() > service.deadline:
            print(f"  [{label}] time limit: kills stopped")
            break
        sample = service.kill_one(find, kill)
        result["kills"].append(sample)
        print(f"  [{label}] kill -> replacement RUNNING: {sample['total_s']:.2f} s", flush=True)
        time.sleep(0.3)
    return result


def run_fake(args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-fake-"))
    agents: FakeAgents | None = None
    try:
        with ServerSet() as servers:
            server = servers.start(dockyard_server(env=args.env))
            server.wait_ready(30)
            try:
                ecs = ecs_client(server.endpoint)
                cluster = f"bench-deploy-fake-{tag}"
                ecs.create_cluster(clusterName=cluster)
                agents = FakeAgents(server.endpoint, cluster, args.fake_agents, work)
                agents.start()
                print(
                    f"fake runtime: server {server.endpoint}, {args.fake_agents} simulated agents "
                    f"(FakeRuntime, in this process), load {os.getloadavg()[0]:.1f}"
                )
                service = Service(
                    ecs,
                    cluster,
                    f"web-{tag}",
                    args.desired,
                    args.poll,
                    deadline,
                    args.step_limit,
                    family=f"bench-deploy-fake-{tag}",
                    cpu=lambda: {
                        "server": server.cpu_seconds() or 0.0,
                        "bench_and_agents": process_cpu_seconds(os.getpid()) or 0.0,
                    },
                    jitter_s=controller_interval() if args.jitter else 0.0,
                )
                return exercise(
                    service,
                    rounds=args.rounds,
                    kills=args.kills,
                    find=agents.find,
                    kill=agents.kill,
                    label="fake",
                )
            except BenchError:
                print(f"--- server log:\n{server.log_tail()}", file=sys.stderr)
                raise
            finally:
                if agents is not None:
                    agents.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_docker(args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    import docker

    client = docker.from_env(timeout=120)
    docker_api = client.api
    tag = uuid.uuid4().hex[:8]
    cluster = f"bench-deploy-{tag}"
    bench_label = f"{BENCH_LABEL}=deploy-{tag}"
    cluster_label = ""
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-docker-"))
    result: dict[str, Any] = {}
    try:
        try:  # used as it is when present: rebuilding would move the tag under other users
            client.images.get(IMAGE)
        except docker.errors.ImageNotFound:
            from dockyard.testing.images import build_test_images

            build_test_images(client)
        print(
            f"docker: floor ({args.floor_runs} single docker run -d, {args.desired} at once), "
            f"load {os.getloadavg()[0]:.1f}"
        )
        result["floor"] = measure_floor(docker_api, bench_label, args.floor_runs, args.desired)
        with ServerSet() as servers:
            server = servers.start(dockyard_server(env=args.env))
            server.wait_ready(30)
            agents: list[ServerProcess] = []
            try:
                ecs = ecs_client(server.endpoint)
                cluster_arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
                cluster_label = f"{CLUSTER_LABEL}={cluster_arn}"
                agents = [
                    start_docker_agent(servers, server.endpoint, cluster, host, work, env=args.env)
                    for host in DOCKER_HOSTS
                ]
                wait_agents_ready(agents, work, time.monotonic() + 30)
                print(
                    f"docker runtime: server {server.endpoint}, agents on "
                    f"{', '.join(DOCKER_HOSTS)}, load {os.getloadavg()[0]:.1f}"
                )
                service = Service(
                    ecs,
                    cluster,
                    f"web-{tag}",
                    args.desired,
                    args.poll,
                    deadline,
                    args.step_limit,
                    family=f"bench-deploy-{tag}",
                    engine_events=lambda since, until: list(
                        docker_api.events(
                            since=f"{since:.9f}",
                            until=f"{until:.9f}",
                            filters={"type": "container", "label": [cluster_label]},
                            decode=True,
                        )
                    ),
                    cpu=lambda: {
                        "server": server.cpu_seconds() or 0.0,
                        "agents": sum(a.cpu_seconds() or 0.0 for a in agents),
                    },
                    jitter_s=controller_interval() if args.jitter else 0.0,
                )

                def find(arn: str) -> str | None:
                    found = docker_api.containers(filters={"label": f"{TASK_LABEL}={arn}"})
                    return str(found[0]["Id"]) if found else None

                result.update(
                    exercise(
                        service,
                        rounds=args.rounds,
                        kills=args.kills,
                        find=find,
                        kill=docker_api.kill,
                        label="docker",
                    )
                )
            except BenchError:
                for process in servers.servers:
                    print(f"--- {process.name} log:\n{process.log_tail()}", file=sys.stderr)
                raise
    finally:
        labels = [bench_label] + ([cluster_label] if cluster_label else [])
        removed = remove_by_label(docker_api, labels)
        if removed:
            print(f"  [docker] removed {removed} container(s) of this run")
        shutil.rmtree(work, ignore_errors=True)
        client.close()
    return result


# --- report ---------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "s") -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f} {unit}" if unit else f"{value:.2f}"


def report(summary: dict[str, Any]) -> None:
    interval = controller_interval()
    tick_model = interval / 2 + 2 * interval
    floor = summary.get("docker", {}).get("floor")
    print("\n== physical floor (bare Docker, this run) ==")
    if floor:
        print(
            f"  docker run -d, one container: median {fmt(floor['start_s'])} "
            f"({', '.join(f'{s:.2f}' for s in floor['starts_s'])})"
        )
        print(f"  docker stop (SIGTERM, exits at once): median {fmt(floor['stop_s'])}")
        print(
            f"  {floor['parallel_n']} x docker run -d at once: {fmt(floor['parallel_s'])} "
            f"(sequential would be {floor['parallel_n']} x start = {fmt(floor['sequential_s'])})"
        )
        print(
            f"  then those {floor['parallel_n']} docker stop at once: {fmt(floor['parallel_stop_s'])}"
        )
        print(
            f"  rollout floor = {floor['parallel_n']} parallel starts, then {floor['parallel_n']} "
            f"parallel stops = {fmt(floor['rollout_floor_s'])}; kill floor = one start = "
            f"{fmt(floor['start_s'])}"
        )
    else:
        print("  (docker not run)")
    print(
        f"  controller tick {interval:.2f} s: a rollout takes 3 reconcile steps -> tick model "
        f"~{tick_model:.2f} s (first step on average {interval / 2:.2f} s after the update)"
    )

    print("\n== rollouts: UpdateService -> new deployment COMPLETED, old gone, all RUNNING ==")
    header = (
        f"  {'runtime':<7} {'config':<8} {'n':>2} {'median':>8} {'min':>7} {'max':>7}  vs floor"
    )
    print(header)
    for runtime in ("fake", "docker"):
        section = summary.get(runtime)
        if not section:
            continue
        for config in (f"{a}/{b}" for a, b in CONFIGS):
            totals = [r["total_s"] for r in section["rollouts"] if r["config"] == config]
            if not totals:
                continue
            m = med(totals)
            if runtime == "docker" and floor:
                versus = (
                    f"x{m / floor['rollout_floor_s']:.1f} of parallel floor "
                    f"{floor['rollout_floor_s']:.2f} s, x{m / floor['sequential_s']:.2f} "
                    f"of {floor['parallel_n']} sequential starts {floor['sequential_s']:.2f} s"
                )
            else:
                versus = f"x{m / tick_model:.1f} of tick model {tick_model:.2f} s"
            print(
                f"  {runtime:<7} {config:<8} {len(totals):>2} {m:>7.2f}s {min(totals):>6.2f}s "
                f"{max(totals):>6.2f}s  {versus}"
            )

    print("\n== killed task -> replacement RUNNING ==")
    for runtime in ("fake", "docker"):
        section = summary.get(runtime)
        if not section or not section.get("kills"):
            continue
        kills = section["kills"]
        totals = [k["total_s"] for k in kills]
        m = med(totals)
        if runtime == "docker" and floor:
            versus = f"x{m / floor['start_s']:.1f} of one docker run -d ({floor['start_s']:.2f} s)"
        else:
            versus = f"tick model ~{interval / 2:.2f} s (the next reconcile step)"
        print(
            f"  {runtime:<7} n={len(totals)} median {m:.2f} s (min {min(totals):.2f}, "
            f"max {max(totals):.2f}); {versus}"
        )

        def kmed(key: str, group: list[dict[str, Any]] = kills) -> float:
            return med([k[key] for k in group if k.get(key) is not None])

        print(
            f"          phases (median, s after the kill): server sees it STOPPED "
            f"{fmt(kmed('victim_stopped_s'))}, replacement placed {fmt(kmed('replacement_created_s'))}, "
            f"agent picks it up {fmt(kmed('replacement_pull_started_s'))}, container started "
            f"{fmt(kmed('replacement_started_s'))}, RUNNING seen {fmt(kmed('seen_s'))}"
        )
        if any(k.get("victim_die_s") is not None for k in kills):
            print(
                f"          engine events (median): kill call returns {fmt(kmed('kill_call_s'))}, "
                f"victim 'die' {fmt(kmed('victim_die_s'))}, replacement 'create' "
                f"{fmt(kmed('replacement_create_s'))}, 'start' {fmt(kmed('replacement_start_s'))}"
            )

    print("\n== where a rollout's time goes (s after UpdateService; median over rounds) ==")
    keys = [
        ("first_step_s", "first controller step (starts, and stops for 50/200)"),
        ("new_created_last_s", "last new task placed (createdAt)"),
        ("push_p50_s", "  placed -> agent picks it up, p50"),
        ("docker_run_p50_s", "  container create+start+inspect, p50"),
        ("docker_run_max_s", "  container create+start+inspect, max"),
        ("eng_pulled_to_create_p50_s", "    engine: image checked -> 'create' event, p50"),
        ("eng_create_to_start_p50_s", "    engine: 'create' -> 'start' event, p50"),
        ("eng_create_to_start_max_s", "    engine: 'create' -> 'start' event, max"),
        ("eng_start_to_started_p50_s", "    engine: 'start' event -> agent's startedAt, p50"),
        ("new_started_first_s", "first new container started (startedAt)"),
        ("new_started_last_s", "last new container started"),
        ("stop_to_stopping_p50_s", "  old task: stop request -> STOPPING at server, p50"),
        ("stop_to_stopped_p50_s", "  old task: stop request -> STOPPED at server, p50"),
        ("stop_to_stopped_max_s", "  old task: stop request -> STOPPED at server, max"),
        ("eng_asked_to_sigterm_p50_s", "    engine: stop request -> SIGTERM sent ('kill'), p50"),
        ("eng_asked_to_sigterm_max_s", "    engine: stop request -> SIGTERM sent ('kill'), max"),
        ("eng_sigterm_to_die_p50_s", "    engine: SIGTERM -> process exited ('die'), p50"),
        ("eng_die_to_stop_p50_s", "    engine: 'die' -> 'stop' (stop call done), p50"),
        ("eng_die_to_stop_max_s", "    engine: 'die' -> 'stop' (stop call done), max"),
        ("eng_stop_to_stopped_p50_s", "    engine: 'stop' -> STOPPED at server, p50"),
        ("old_stopped_last_s", "last old task STOPPED"),
        ("completed_event_s", "COMPLETED (service event, controller step)"),
        ("seen_s", "seen by the client (DescribeServices poll)"),
        ("machine_cores_busy", f"CPU: whole machine, cores busy (of {os.cpu_count()})"),
        ("server_cores", "CPU: dockyard server, cores"),
        ("agents_cores", "CPU: 2 agent processes, cores"),
        ("bench_and_agents_cores", "CPU: this process (simulated agents + client), cores"),
    ]
    columns = [
        (runtime, config)
        for runtime in ("fake", "docker")
        if summary.get(runtime)
        for config in (f"{a}/{b}" for a, b in CONFIGS)
    ]
    print(f"  {'':<56}" + "".join(f"{r + ' ' + c:>16}" for r, c in columns))
    for key, label in keys:
        cells = []
        for runtime, config in columns:
            values = [
                r[key]
                for r in summary[runtime]["rollouts"]
                if r["config"] == config and r.get(key) is not None and not math.isnan(r[key])
            ]
            cells.append(f"{med(values):>16.2f}" if values else f"{'-':>16}")
        if all(c.strip() == "-" for c in cells):
            continue
        print(f"  {label:<56}" + "".join(cells))
    print("  controller steps that started/stopped tasks (first round, at s: +started/-stopped):")
    for runtime, config in columns:
        first = next((r for r in summary[runtime]["rollouts"] if r["config"] == config), None)
        if first:
            steps = ", ".join(
                f"{s['at_s']:.2f}:+{s['started']}/-{s['stopped']}" for s in first["steps"]
            )
            print(f"    {runtime} {config}: {steps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="fake,docker", help="fake, docker or both")
    parser.add_argument("--desired", type=int, default=20, help="the service's desiredCount")
    parser.add_argument("--rounds", type=int, default=2, help="rollout pairs (50/200, 100/200)")
    parser.add_argument("--kills", type=int, default=5, help="killed-task replacements to time")
    parser.add_argument("--fake-agents", type=int, default=4)
    parser.add_argument("--floor-runs", type=int, default=3, help="single docker run -d samples")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between API polls")
    parser.add_argument("--step-limit", type=float, default=60.0, help="seconds per wait")
    parser.add_argument("--time-limit", type=float, default=220.0, help="seconds in all")
    parser.add_argument(
        "--no-jitter",
        dest="jitter",
        action="store_false",
        help="do not wait a random part of a tick before each update/kill",
    )
    parser.add_argument(
        "--dockyard-src",
        metavar="DIR",
        help="run Dockyard from DIR or DIR/src (e.g. a `git archive` of a commit)",
    )
    parser.add_argument("--json", metavar="FILE", help="also save the figures")
    args = parser.parse_args()
    args.env = source_env(args.dockyard_src)
    if args.env:  # the in-process simulated agents too
        sys.path.insert(0, args.env["PYTHONPATH"])
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not runtimes or set(runtimes) - {"fake", "docker"}:
        parser.error("--runtimes: fake, docker or fake,docker")
    if not 1 <= args.desired <= 40 or args.rounds < 0 or args.kills < 0:
        parser.error("--desired 1..40 (2 Docker agents hold 2 x 20 tasks), --rounds/--kills >= 0")
    install_signal_handlers()
    deadline = time.monotonic() + args.time_limit
    summary: dict[str, Any] = {"desired": args.desired, "load_start": os.getloadavg()[0]}
    try:
        if "fake" in runtimes:
            summary["fake"] = run_fake(args, deadline)
        if "docker" in runtimes:
            summary["docker"] = run_docker(args, deadline)
    except BenchError as error:
        sys.exit(f"deploy: {error}")
    summary["load_end"] = os.getloadavg()[0]
    report(summary)
    print(
        f"\nmachine load average {summary['load_start']:.1f} at start, {summary['load_end']:.1f} at end"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
