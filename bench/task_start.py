"""Task start latency: RunTask -> RUNNING on Dockyard against a bare `docker run -d`.

One `dockyard server` and one Docker agent (`--host-ip 127.0.1.1 --cleanup-wait 1s`)
run as subprocesses; the image is `dockyard-demo/web:1` (busybox httpd on 8080).
Each run, interleaved (the order alternates run by run, so background load hits
every variant alike):

- **dockyard** - `RunTask` (one task: that image, memory 64, port 8080 -> host
  port 0) then `DescribeTasks` every `--poll-ms` until `lastStatus` is RUNNING;
  then GET on the task's host port until the container answers HTTP.
- **docker run** - `docker run -d -p 127.0.1.1::8080 dockyard-demo/web:1`: time
  until the CLI returns; then (port read with one Engine API inspect) until the
  container answers HTTP.
- **engine API** (`--no-api`: skip) - create + start + inspect through the
  docker SDK, what the agent itself does: the floor for any agent.

Between runs the task is stopped (and waited for until STOPPED and its container
removed by the agent), the bare container removed (`docker rm -f`). Prints
median and p90 per variant, then Dockyard's difference and ratio to bare
Docker, and where Dockyard's time goes (from the task's createdAt,
pullStartedAt, pullStoppedAt, startedAt). Target: Dockyard adds at most 100 ms
over `docker run -d` at the median.

    .venv/bin/python bench/task_start.py [--runs 20] [--json out.json]
    .venv/bin/python bench/task_start.py --agent-log-level debug --keep-logs /tmp/ts-logs

Cleans up everything on exit, error, Ctrl-C or SIGTERM: server and agent, every
container of this run's cluster (`com.dockyard.cluster` label), the bare
containers (`com.dockyard.bench` label).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _servers import ServerProcess, ServerSet, dockyard_server, install_signal_handlers

HOST_IP = "127.0.1.1"
IMAGE = "dockyard-demo/web:1"
BENCH_LABEL = "com.dockyard.bench"
CLUSTER_LABEL = "com.dockyard.cluster"
TARGET_MS = 100.0


class BenchError(RuntimeError):
    pass


@dataclass
class Sample:
    ready_s: float  # CLI returned / RUNNING seen / API start done
    http_s: float  # the container answered HTTP
    detail: dict[str, float] = field(default_factory=dict)


@dataclass
class Bench:
    ecs: Any
    docker: Any  # docker.APIClient
    cluster: str
    task_definition: str
    run_label: str
    poll_s: float
    deadline: float  # monotonic: the whole benchmark's time limit
    step_timeout: float = 30.0

    def _until(self) -> float:
        return min(self.deadline, time.monotonic() + self.step_timeout)

    def _check_time(self, until: float, what: str) -> None:
        if time.monotonic() > until:
            raise BenchError(f"timed out waiting for {what}")

    # -- dockyard --------------------------------------------------------------------------
    def dockyard_run(self) -> Sample:
        wall0 = time.time()
        t0 = time.perf_counter()
        answer = self.ecs.run_task(cluster=self.cluster, taskDefinition=self.task_definition)
        t_call = time.perf_counter()
        if answer.get("failures") or not answer.get("tasks"):
            raise BenchError(f"RunTask failed: {answer.get('failures')}")
        arn = answer["tasks"][0]["taskArn"]
        try:
            until = self._until()
            polls = 0
            while True:
                task = self.ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"][0]
                polls += 1
                if task["lastStatus"] == "RUNNING":
                    t_running = time.perf_counter()
                    wall_running = time.time()
                    break
                if task["lastStatus"] in ("STOPPING", "DEPROVISIONING", "STOPPED"):
                    raise BenchError(f"task stopped before RUNNING: {task.get('stoppedReason')}")
                self._check_time(until, "RUNNING")
                time.sleep(self.poll_s)
            binding = task["containers"][0]["networkBindings"][0]
            wait_http(binding.get("bindIP") or HOST_IP, int(binding["hostPort"]), until)
            t_http = time.perf_counter()
        finally:
            self.dockyard_stop(arn)
        detail = {
            "run_task_call": t_call - t0,
            "polls": float(polls),
            **task_breakdown(task, wall0, wall_running),
        }
        return Sample(t_running - t0, t_http - t0, detail)

    def dockyard_stop(self, arn: str) -> None:
        """StopTask, wait for STOPPED and for the agent to remove the container."""
        with contextlib.suppress(Exception):
            self.ecs.stop_task(cluster=self.cluster, task=arn, reason="bench")
        until = self._until()
        while time.monotonic() < until:
            task = self.ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"]
            if not task or task[0]["lastStatus"] == "STOPPED":
                break
            time.sleep(0.05)
        while time.monotonic() < until:  # the agent removes it after --cleanup-wait
            if not self.docker.containers(
                all=True, filters={"label": f"com.dockyard.task-arn={arn}"}
            ):
                return
            time.sleep(0.1)

    # -- bare docker -----------------------------------------------------------------------
    def docker_cli_run(self) -> Sample:
        argv = ["docker", "run", "-d", "--label", self.run_label]
        argv += ["-p", f"{HOST_IP}::8080", IMAGE]
        t0 = time.perf_counter()
        done = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=self.step_timeout
        )
        t_cli = time.perf_counter()
        if done.returncode != 0:
            raise BenchError(f"docker run failed: {done.stderr.strip()}")
        container = done.stdout.strip()
        try:
            port = self._host_port(container)
            wait_http(HOST_IP, port, self._until())
            t_http = time.perf_counter()
        finally:
            self._remove(container)
        return Sample(t_cli - t0, t_http - t0)

    def docker_api_run(self) -> Sample:
        """create + start + inspect via the Engine API: what the agent does, minus the agent."""
        t0 = time.perf_counter()
        host_config = self.docker.create_host_config(port_bindings={8080: (HOST_IP,)})
        created = self.docker.create_container(
            IMAGE,
            ports=[8080],
            host_config=host_config,
            labels={BENCH_LABEL: self.run_label.split("=", 1)[1]},
        )
        container = created["Id"]
        try:
            self.docker.start(container)
            port = self._host_port(container)
            t_started = time.perf_counter()
            wait_http(HOST_IP, port, self._until())
            t_http = time.perf_counter()
        finally:
            self._remove(container)
        return Sample(t_started - t0, t_http - t0)

    def _host_port(self, container: str) -> int:
        ports = self.docker.inspect_container(container)["NetworkSettings"]["Ports"]
        return int(ports["8080/tcp"][0]["HostPort"])

    def _remove(self, container: str) -> None:
        with contextlib.suppress(Exception):
            self.docker.remove_container(container, force=True)


def wait_http(host: str, port: int, until: float) -> None:
    """GET / until the container answers (docker-proxy accepts before httpd listens)."""
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=0.5)
        try:
            conn.request("GET", "/")
            if conn.getresponse().status < 500:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.monotonic() > until:
            raise BenchError(f"no HTTP answer on {host}:{port}")
        time.sleep(0.003)


def task_breakdown(task: dict[str, Any], wall0: float, wall_running: float) -> dict[str, float]:
    """Phases of one task from its timestamps (server and agent share this clock)."""
    stamps = {
        k: task[k].timestamp()
        for k in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt")
        if task.get(k)
    }
    if len(stamps) < 4:
        return {}
    return {
        "client->createdAt": stamps["createdAt"] - wall0,
        "createdAt->pullStartedAt": stamps["pullStartedAt"] - stamps["createdAt"],
        "pullStartedAt->pullStoppedAt": stamps["pullStoppedAt"] - stamps["pullStartedAt"],
        "pullStoppedAt->startedAt": stamps["startedAt"] - stamps["pullStoppedAt"],
        "startedAt->RUNNING seen": wall_running - stamps["startedAt"],
    }


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


# --- set-up and clean-up --------------------------------------------------------------------


def remove_containers(docker_api: Any, labels: Sequence[str]) -> int:
    removed = 0
    for label in labels:
        with contextlib.suppress(Exception):
            for summary in docker_api.containers(all=True, filters={"label": label}):
                with contextlib.suppress(Exception):
                    docker_api.remove_container(summary["Id"], force=True)
                    removed += 1
    return removed


def start_agent(
    servers: ServerSet,
    endpoint: str,
    cluster: str,
    work: Path,
    *,
    log_level: str,
    log_dir: Path | None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    ready = work / "agent.ready"
    argv = [sys.executable, "-m", "dockyard", "agent", "--endpoint", endpoint]
    argv += ["--cluster", cluster, "--host-ip", HOST_IP, "--cpu", "2048", "--memory", "2048"]
    argv += ["--data-dir", str(work / "agent"), "--stop-timeout", "3s", "--cleanup-wait", "1s"]
    argv += ["--ready-file", str(ready), "--log-level", log_level]
    agent = ServerProcess("agent", argv, health_path=None, env=env, log_dir=log_dir or work)
    servers.start(agent)
    until = time.monotonic() + 30
    while not (ready.exists() and ready.read_text().strip()):
        assert agent.proc is not None
        if agent.proc.poll() is not None:
            raise BenchError(f"agent exited:\n{agent.log_tail()}")
        if time.monotonic() > until:
            raise BenchError(f"agent not registered after 30 s:\n{agent.log_tail()}")
        time.sleep(0.05)
    return agent


def wait_connected(ecs: Any, cluster: str, until: float) -> None:
    while time.monotonic() < until:
        arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        if arns:
            found = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
            if all(i.get("agentConnected") for i in found["containerInstances"]):
                return
        time.sleep(0.05)
    raise BenchError("agent not connected")


def ecs_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=30, tcp_keepalive=True),
    )


# --- statistics and report ------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def report(results: dict[str, list[Sample]]) -> dict[str, Any]:
    rows: list[tuple[str, list[float]]] = []
    labels = {
        "docker_cli": ("docker run -d: CLI returns", "docker run -d: HTTP answers"),
        "docker_api": ("engine API create+start+inspect", "engine API: HTTP answers"),
        "dockyard": ("dockyard RunTask -> RUNNING seen", "dockyard: HTTP answers"),
    }
    for key, (ready_label, http_label) in labels.items():
        if results.get(key):
            rows.append((ready_label, [s.ready_s for s in results[key]]))
            rows.append((http_label, [s.http_s for s in results[key]]))
    print(f"\n{'variant':<36} {'n':>3} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'max ms':>8}")
    summary: dict[str, Any] = {"rows": {}}
    for label, values in rows:
        p50, p90 = statistics.median(values), pct(values, 0.9)
        print(
            f"{label:<36} {len(values):>3} {ms(p50):>8} {ms(p90):>8} {ms(min(values)):>8} {ms(max(values)):>8}"
        )
        summary["rows"][label] = {"n": len(values), "p50_ms": p50 * 1000, "p90_ms": p90 * 1000}

    dy, cli = results.get("dockyard"), results.get("docker_cli")
    if dy and cli:
        print()
        for what, mine, base in (
            ("RUNNING seen vs CLI returns", [s.ready_s for s in dy], [s.ready_s for s in cli]),
            ("HTTP answers vs HTTP answers", [s.http_s for s in dy], [s.http_s for s in cli]),
        ):
            m, b = statistics.median(mine), statistics.median(base)
            m90, b90 = pct(mine, 0.9), pct(base, 0.9)
            print(
                f"dockyard - docker, {what}: p50 {ms(m - b).strip()} ms (x{m / b:.2f}),"
                f" p90 {ms(m90 - b90).strip()} ms (x{m90 / b90:.2f})"
            )
            summary[what] = {
                "p50_diff_ms": (m - b) * 1000,
                "p50_ratio": m / b,
                "p90_diff_ms": (m90 - b90) * 1000,
                "p90_ratio": m90 / b90,
            }
        added = (
            statistics.median([s.ready_s for s in dy]) - statistics.median([s.ready_s for s in cli])
        ) * 1000
        verdict = "OK" if added <= TARGET_MS else "OVER TARGET"
        print(
            f"target: dockyard adds <= {TARGET_MS:.0f} ms at the median: {added:.1f} ms -> {verdict}"
        )
        summary["target_ok"] = added <= TARGET_MS

    phases = [s.detail for s in dy or [] if len(s.detail) > 2]
    if phases:
        print(
            "\nwhere Dockyard's time goes (median over runs; server/agent timestamps have ms precision):"
        )
        keys = [k for k in phases[0] if k != "polls"]
        summary["phases_ms"] = {}
        for key in keys:
            values = [p[key] for p in phases]
            print(
                f"  {key:<30} p50 {ms(statistics.median(values))} ms   p90 {ms(pct(values, 0.9))} ms"
            )
            summary["phases_ms"][key] = statistics.median(values) * 1000
        print(
            f"  DescribeTasks polls per run: p50 {statistics.median(p['polls'] for p in phases):.0f}"
        )
    return summary


# --- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    import docker

    client = docker.from_env(timeout=60)
    docker_api = client.api
    from dockyard.testing.images import build_test_images

    build_test_images(client)
    tag = uuid.uuid4().hex[:10]
    cluster = f"bench-task-start-{tag}"
    run_label = f"{BENCH_LABEL}=task_start-{tag}"
    cluster_label = f"{CLUSTER_LABEL}=arn:aws:ecs:us-east-1:000000000000:cluster/{cluster}"
    work = Path(tempfile.mkdtemp(prefix="bench-task-start-"))
    log_dir = Path(args.keep_logs) if args.keep_logs else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    env = source_env(args.dockyard_src)
    deadline = time.monotonic() + args.time_limit
    results: dict[str, list[Sample]] = {"dockyard": [], "docker_cli": [], "docker_api": []}
    try:
        with ServerSet() as servers:
            try:
                server = dockyard_server(
                    data_dir=(log_dir or work) / "server-data",
                    extra_args=["--log-level", args.server_log_level],
                    env=env,
                )
                servers.start(server)
                server.wait_ready(30)
                ecs = ecs_client(server.endpoint)
                ecs.create_cluster(clusterName=cluster)
                start_agent(
                    servers,
                    server.endpoint,
                    cluster,
                    work,
                    log_level=args.agent_log_level,
                    log_dir=log_dir,
                    env=env,
                )
                wait_connected(ecs, cluster, time.monotonic() + 30)
                taskdef = ecs.register_task_definition(
                    family=f"bench-task-start-{tag}",
                    networkMode="bridge",
                    containerDefinitions=[
                        {
                            "name": "web",
                            "image": IMAGE,
                            "memory": 64,
                            "essential": True,
                            "portMappings": [
                                {"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}
                            ],
                        }
                    ],
                )["taskDefinition"]["taskDefinitionArn"]
                bench = Bench(
                    ecs, docker_api, cluster, taskdef, run_label, args.poll_ms / 1000, deadline
                )
                variants: list[tuple[str, Callable[[], Sample]]] = [
                    ("dockyard", bench.dockyard_run),
                    ("docker_cli", bench.docker_cli_run),
                ]
                if not args.no_api:
                    variants.append(("docker_api", bench.docker_api_run))
                for _ in range(args.warmup):  # first runs pay for cold caches on every side
                    for _name, fn in variants:
                        fn()
                print(
                    f"{args.runs} runs x {len(variants)} variants, interleaved "
                    f"(poll every {args.poll_ms:.0f} ms, machine load {os.getloadavg()[0]:.1f})"
                )
                for index in range(args.runs):
                    if time.monotonic() > deadline:
                        print(f"time limit reached after {index} runs")
                        break
                    order = variants if index % 2 == 0 else variants[::-1]
                    for name, fn in order:
                        results[name].append(fn())
                    dy = results["dockyard"][-1]
                    print(
                        f"  run {index + 1:2d}: dockyard {ms(dy.ready_s)} ms, docker run "
                        f"{ms(results['docker_cli'][-1].ready_s)} ms",
                        flush=True,
                    )
                summary = report(results)
            except BenchError:
                for process in servers.servers:
                    print(f"--- {process.name} log:\n{process.log_tail()}", file=sys.stderr)
                raise
    finally:
        removed = remove_containers(docker_api, [cluster_label, run_label])
        if removed:
            print(f"removed {removed} leftover container(s)")
        shutil.rmtree(work, ignore_errors=True)
        client.close()
    summary["samples"] = {k: [asdict(s) for s in v] for k, v in results.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2, help="uncounted runs per variant first")
    parser.add_argument("--poll-ms", type=float, default=15.0, help="DescribeTasks interval")
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds for the whole run")
    parser.add_argument("--no-api", action="store_true", help="skip the engine API baseline")
    parser.add_argument(
        "--agent-log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--server-log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="keep server/agent logs and data here")
    parser.add_argument(
        "--dockyard-src",
        metavar="DIR",
        help="run Dockyard from DIR or DIR/src (e.g. a `git archive` of a commit)",
    )
    parser.add_argument("--json", metavar="FILE", help="also save the figures")
    args = parser.parse_args()
    install_signal_handlers()
    try:
        summary = run(args)
    except BenchError as error:
        sys.exit(f"task_start: {error}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
