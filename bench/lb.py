"""Load balancer data plane: Dockyard's ALB (HAProxy) against the bare containers and a
hand-written HAProxy, and a rolling deployment under load with zero failed requests.

One run, everything started and stopped by the benchmark:

* `dockyard server` (temporary data dir, free loopback port, `--haproxy`), two Docker agents
  on 127.0.1.1 / 127.0.1.2; a target group (health check `/` on the traffic port,
  interval 5 s, timeout 2 s, healthy/unhealthy threshold 2, deregistration delay 5 s), a
  load balancer and an HTTP listener on 127.0.0.1:<20000-30000>, a 2-task service of
  `dockyard-demo/auth:1` (busybox httpd, container port 10080, dynamic host ports) behind it.
* **Throughput** (`GET /`, a static page): wrk, 2 threads, 50 connections, `--duration` (10 s)
  per target, in `--slices` (2) interleaved slices (the order rotates slice by slice, so
  background load on a shared machine hits every target alike), after a 1 s warm-up each:
  - **direct**: the two containers' host ports at once, one wrk each (1 thread, 25
    connections), rates summed;
  - **hand-written HAProxy**: `haproxy -db -f` of a minimal config (one frontend on another
    loopback port, one backend of the two host ports, roundrobin, no checks);
  - **Dockyard LB**: the listener.
  p50/p99 merge the slices' (and the two direct runs') latency distributions (wrk's
  `done()` hook prints 1000 quantiles). Without wrk (`apt-get install -y wrk`) a bounded
  aiohttp load generator in this process takes its place, and says so; its own CPU then
  caps every figure, so only the ratios mean much.
* **HTTPS** (`--skip-https` to leave out): a self-signed RSA 2048 certificate imported with
  ACM ImportCertificate, an HTTPS listener (`--ssl-policy`, ELBSecurityPolicy-TLS13-1-2-2021-06)
  on the same load balancer and target group, against a hand-written HAProxy TLS frontend
  with the same certificate files, versions and ciphers (`_lb_tls.py`), the same slices:
  - keep-alive requests (wrk as above, over HTTPS);
  - a new connection per request, wrk `-H "Connection: close"`: wrk resumes the TLS
    session on each reconnect (HAProxy's `ssl_reused_sess` counts them), so these are
    resumed handshakes;
  - a new connection per request with a full handshake each: `--tls-clients` (8) worker
    processes of `_load.py` (connect, handshake without a session, GET, read to the end;
    latency = all of it).
  Each prints req/s, p50/p99, HAProxy's and the client's CPU per request, HAProxy's count
  of full / resumed / failed handshakes, and Dockyard / hand-written.
* **Rolling deployment under load**: an aiohttp client at `--rate` (200) req/s (open loop,
  keep-alive, 5 s timeout per request) through the listener while the service is updated
  to a revision with `dockyard-demo/auth:2` (minimumHealthyPercent 50, maximumPercent 200);
  load runs from 2 s before the update until the deployment is COMPLETED, no draining or
  old target is left and every old task is STOPPED, plus 2 s. Counts requests, non-2xx
  answers and connection errors/timeouts, and prints the rollout's timeline (target health,
  HAProxy server states from `show stat`, deployments); on failures, the events around each.

    .venv/bin/python bench/lb.py                      # ~4 min
    .venv/bin/python bench/lb.py --quick              # 2 x 2 s slices, every phase, ~2 min
    .venv/bin/python bench/lb.py --duration 4 --slices 1 --skip-rollout --skip-https
    .venv/bin/python bench/lb.py --load-tool aiohttp  # without wrk
    .venv/bin/python bench/lb.py --json out.json

Bounded (`--time-limit`, per-step limits, wrk `-d`, request caps); loopback only. Cleans up
on exit, errors, Ctrl-C and SIGTERM: agents, the server (which stops its HAProxy; a master
left behind is ended by its pid file), the hand-written HAProxys, this run's task containers
(`com.dockyard.cluster` / `com.dockyard.task-arn` labels of its cluster), the temp dirs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _lb_tls
from _load import (
    WRK_DONE,
    BenchError,
    Load,
    LoadRun,
    aiohttp_run,
    handshake_run,
    throughput,
    wrk_run,
)
from _servers import (
    ServerProcess,
    ServerSet,
    check_loopback,
    dockyard_server,
    install_signal_handlers,
)
from dockyard.acm.policies import POLICIES

IMAGE_V1 = "dockyard-demo/auth:1"
IMAGE_V2 = "dockyard-demo/auth:2"
CONTAINER_PORT = 10080
DOCKER_HOSTS = ("127.0.1.1", "127.0.1.2")
CLUSTER_LABEL = "com.dockyard.cluster"
TASK_LABEL = "com.dockyard.task-arn"
RATIO_TARGET = 0.95  # Dockyard LB / hand-written HAProxy (issue 10)


# --- small helpers --------------------------------------------------------------------------


def client(service: str, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=30, tcp_keepalive=True),
    )


def pick_port(host: str = "127.0.0.1") -> int:
    """A free port in 20000-30000 (outside the ephemeral range), bounded attempts."""
    check_loopback(host)
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise BenchError("no free port in 20000-30000")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return 0, str(error)


def wait_for(what: str, check: Callable[[], bool], until: float, poll: float = 0.25) -> None:
    while not check():
        if time.monotonic() > until:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(poll)


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise SystemExit("lb: haproxy not found (apt-get install -y haproxy)")
    return found


def show_stat(admin_socket: Path, timeout: float = 2.0) -> list[dict[str, str]]:
    """`show stat` on an HAProxy admin socket, as CSV rows (all proxies, all types)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(admin_socket))
        sock.sendall(b"show stat\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    text = b"".join(chunks).decode(errors="replace").lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))


def haproxy_info_pid(admin_socket: Path) -> int | None:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2.0)
        sock.connect(str(admin_socket))
        sock.sendall(b"show info\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
    return None


# --- the stack: server, agents, load balancer, service --------------------------------------


@dataclass
class Stack:
    servers: ServerSet
    work: Path
    data_dir: Path
    tag: str
    haproxy: str
    deadline: float
    server: ServerProcess | None = None
    agents: list[ServerProcess] = field(default_factory=list)
    ecs: Any = None
    elb: Any = None
    cluster: str = ""
    cluster_arn: str = ""
    family: str = ""
    service: str = ""
    group_arn: str = ""
    lb_arn: str = ""
    listener_port: int = 0
    https_port: int = 0
    revisions: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "haproxy"

    @property
    def admin_socket(self) -> Path:
        from dockyard.lb.settings import LbSettings

        return LbSettings(run_dir=self.run_dir).admin_socket

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.listener_port}/"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/"

    def until(self, limit: float) -> float:
        return min(self.deadline, time.monotonic() + limit)

    def start(self) -> None:
        self.server = self.servers.start(
            dockyard_server(data_dir=self.data_dir, extra_args=["--haproxy", self.haproxy])
        )
        self.server.wait_ready(30)
        self.ecs = client("ecs", self.server.endpoint)
        self.elb = client("elbv2", self.server.endpoint)
        self.cluster = f"bench-lb-{self.tag}"
        self.cluster_arn = self.ecs.create_cluster(clusterName=self.cluster)["cluster"][
            "clusterArn"
        ]
        for host in DOCKER_HOSTS:
            ready = self.work / f"ready-{host}"
            argv = [sys.executable, "-m", "dockyard", "agent", "--endpoint", self.server.endpoint]
            argv += ["--cluster", self.cluster, "--host-ip", host]
            argv += ["--cpu", "4096", "--memory", "4096", "--cleanup-wait", "3s"]
            argv += ["--data-dir", str(self.work / f"agent-{host}"), "--ready-file", str(ready)]
            argv += ["--log-level", "info"]
            agent = ServerProcess(f"agent-{host}", argv, health_path=None, log_dir=self.work)
            self.agents.append(self.servers.start(agent))
        until = self.until(30)
        for agent in self.agents:
            ready = self.work / f"ready-{agent.name.removeprefix('agent-')}"

            def registered(agent: ServerProcess = agent, ready: Path = ready) -> bool:
                assert agent.proc is not None
                if agent.proc.poll() is not None:
                    raise BenchError(f"{agent.name} exited:\n{agent.log_tail()}")
                return ready.exists()

            wait_for(f"{agent.name} to register", registered, until, 0.1)

    def register_revision(self, image: str) -> str:
        arn = self.ecs.register_task_definition(
            family=self.family,
            networkMode="bridge",
            containerDefinitions=[
                {
                    "name": "auth",
                    "image": image,
                    "cpu": 128,
                    "memory": 64,
                    "essential": True,
                    "portMappings": [
                        {"containerPort": CONTAINER_PORT, "hostPort": 0, "protocol": "tcp"}
                    ],
                    "environment": [{"name": "SERVICE", "value": "auth"}],
                    "stopTimeout": 5,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        self.revisions.append(arn)
        return str(arn)

    def build_service(self) -> None:
        self.family = f"bench-lb-{self.tag}"
        self.service = f"auth-{self.tag}"
        taskdef = self.register_revision(IMAGE_V1)
        group = self.elb.create_target_group(
            Name=f"bench-lb-{self.tag}",
            Protocol="HTTP",
            Port=CONTAINER_PORT,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort="traffic-port",
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
        )
        self.group_arn = group["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(
            TargetGroupArn=self.group_arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
        )
        lb = self.elb.create_load_balancer(
            Name=f"bench-lb-{self.tag}", Type="application", Scheme="internal"
        )["LoadBalancers"][0]
        self.lb_arn = lb["LoadBalancerArn"]
        self.listener_port = pick_port("127.0.0.1")
        self.elb.create_listener(
            LoadBalancerArn=self.lb_arn,
            Protocol="HTTP",
            Port=self.listener_port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.group_arn}],
        )
        self.ecs.create_service(
            cluster=self.cluster,
            serviceName=self.service,
            taskDefinition=taskdef,
            desiredCount=2,
            launchType="EC2",
            loadBalancers=[
                {
                    "targetGroupArn": self.group_arn,
                    "containerName": "auth",
                    "containerPort": CONTAINER_PORT,
                }
            ],
            healthCheckGracePeriodSeconds=10,
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 50},
            placementStrategy=[{"type": "spread", "field": "instanceId"}],
        )

    def describe_service(self) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        if not found["services"]:
            raise BenchError(f"service missing: {found.get('failures')}")
        return dict(found["services"][0])

    def target_health(self) -> list[dict[str, Any]]:
        return list(
            self.elb.describe_target_health(TargetGroupArn=self.group_arn)[
                "TargetHealthDescriptions"
            ]
        )

    def healthy_count(self) -> int:
        return sum(1 for d in self.target_health() if d["TargetHealth"]["State"] == "healthy")

    def tasks(self, status: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(
            cluster=self.cluster, serviceName=self.service, desiredStatus=status
        )["taskArns"]
        if not arns:
            return []
        return list(self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"])

    def stable(self) -> bool:
        service = self.describe_service()
        deployments = service["deployments"]
        return (
            len(deployments) == 1
            and deployments[0].get("rolloutState") == "COMPLETED"
            and service.get("runningCount") == 2
        )

    def wait_ready(self) -> list[str]:
        """Service steady, 2 targets healthy, the LB answering; returns the direct URLs."""
        wait_for("the service to be steady", self.stable, self.until(90))
        wait_for("2 healthy targets", lambda: self.healthy_count() >= 2, self.until(60))
        wait_for(
            "the listener to answer 200",
            lambda: http_get(self.lb_url)[0] == 200,
            self.until(20),
        )
        urls = []
        for task in self.tasks():
            for binding in task["containers"][0].get("networkBindings", []):
                if binding.get("containerPort") == CONTAINER_PORT:
                    urls.append(f"http://{binding['bindIP']}:{binding['hostPort']}/")
        if len(urls) != 2:
            raise BenchError(f"expected 2 task host ports, found {urls}")
        for url in urls:
            check_loopback(url.split("/")[2].split(":")[0])
            status, body = http_get(url)
            if status != 200:
                raise BenchError(f"direct {url}: {status} {body}")
        return urls

    def haproxy_pid(self) -> int | None:
        return haproxy_info_pid(self.admin_socket)

    def add_https_listener(self, ssl_policy: str) -> tuple[bytes, bytes]:
        """ACM ImportCertificate of a self-signed certificate, an HTTPS listener on it (same
        load balancer, same target group), answering 200; returns the certificate and key
        (PEM) for the hand-written HAProxy."""
        cert, key = _lb_tls.self_signed()
        cert_arn = _lb_tls.import_certificate(client("acm", self.endpoint), cert, key)
        self.https_port = pick_port("127.0.0.1")
        _lb_tls.https_listener(
            self.elb,
            self.lb_arn,
            self.group_arn,
            port=self.https_port,
            cert_arn=cert_arn,
            ssl_policy=ssl_policy,
        )
        wait_for(
            "the HTTPS listener to answer 200",
            lambda: _lb_tls.https_get(self.https_url) == 200,
            self.until(30),
        )
        return cert, key

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return self.server.endpoint

    def rendered_config(self) -> str:
        from dockyard.lb.settings import LbSettings

        path = LbSettings(run_dir=self.run_dir).config_path
        return path.read_text() if path.exists() else ""

    def log_tails(self) -> str:
        parts = []
        for process in self.servers.servers:
            parts.append(f"--- {process.name} log:\n{process.log_tail(20)}")
        log = self.run_dir / "haproxy.log"
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            parts.append(f"--- dockyard haproxy.log:\n{tail}")
        return "\n".join(parts)


def hand_haproxy(
    haproxy: str, work: Path, backends: Sequence[str], tls: tuple[Path, str] | None = None
) -> ServerProcess:
    """The baseline: a minimal HAProxy config, one frontend, one roundrobin backend, no checks.

    With `tls` (certificate file, SslPolicy) the frontend terminates TLS (`_lb_tls.tls_frontend`)
    and an admin socket (`<work>/hand-haproxy-tls.sock`) gives its SSL counters.
    """
    port = pick_port("127.0.0.1")
    servers = []
    for index, url in enumerate(backends):
        address = url.split("/")[2]
        servers.append(f"    server s{index} {address}")
    name = "hand-haproxy" if tls is None else "hand-haproxy-tls"
    if tls is None:
        frontend = [
            "frontend bench",
            f"    bind 127.0.0.1:{port}",
            "    default_backend containers",
        ]
        stats: list[str] = []
    else:
        frontend = _lb_tls.tls_frontend(port, tls[0], "containers", tls[1])
        stats = [f"    stats socket {work / (name + '.sock')} mode 600 level admin"]
    config = "\n".join(
        [
            "global",
            "    maxconn 4096",
            *stats,
            "defaults",
            "    mode http",
            "    timeout connect 5s",
            "    timeout client 60s",
            "    timeout server 60s",
            *frontend,
            "backend containers",
            "    balance roundrobin",
            *servers,
            "",
        ]
    )
    path = work / f"{name}.cfg"
    path.write_text(config)
    return ServerProcess(
        name,
        [haproxy, "-db", "-f", str(path)],
        port=port,
        health_path=None,
        log_dir=work,
    )


# --- throughput: HTTP, then HTTPS -----------------------------------------------------------

HAND_TLS = "hand-written HAProxy TLS"
DOCKYARD_TLS = "dockyard LB HTTPS"


def http_load(args: argparse.Namespace, work: Path, headers: Sequence[str] = ()) -> Load:
    """wrk (or the aiohttp fallback) with the benchmark's threads and connections."""
    script = work / "done.lua"
    script.write_text(WRK_DONE)

    def load(urls: Sequence[str], seconds: int) -> list[LoadRun]:
        if args.load_tool == "wrk":
            return wrk_run(urls, args.threads, args.connections, seconds, script, headers=headers)
        return aiohttp_run(urls, args.connections, seconds)

    return load


def https_phase(
    args: argparse.Namespace, stack: Stack, direct: Sequence[str], load_text: str
) -> dict[str, Any]:
    """HTTPS listener vs a hand-written HAProxy TLS frontend with the same certificate,
    versions and ciphers, in front of the same two containers: keep-alive requests,
    requests on new connections with resumed TLS sessions (wrk only) and with full
    handshakes (`handshake_run`)."""
    cert, key = stack.add_https_listener(args.ssl_policy)
    pem = _lb_tls.write_certificate(stack.work / "hand-tls", cert, key)
    hand = stack.servers.start(
        hand_haproxy(stack.haproxy, stack.work, direct, tls=(pem, args.ssl_policy))
    )
    try:
        hand.wait_ready(10)
        hand_url = f"https://127.0.0.1:{hand.port}/"
        if _lb_tls.https_get(hand_url) != 200:
            raise BenchError(f"hand-written HAProxy TLS {hand_url} does not answer 200")
        print(f"HTTPS listener {stack.https_url}; hand-written HAProxy TLS on {hand_url}")
        names = (HAND_TLS, DOCKYARD_TLS)
        targets = {HAND_TLS: [hand_url], DOCKYARD_TLS: [stack.https_url]}
        cpu_pids: dict[str, Callable[[], int | None]] = {
            HAND_TLS: lambda: hand.pid,
            DOCKYARD_TLS: stack.haproxy_pid,
        }
        sockets = {
            HAND_TLS: (stack.work / "hand-haproxy-tls.sock", "bench-tls"),
            DOCKYARD_TLS: (stack.admin_socket, f"lb-bench-lb-{stack.tag}-{stack.https_port}"),
        }
        hand_config = (stack.work / "hand-haproxy-tls.cfg").read_text()
        result: dict[str, Any] = {
            "ssl_policy": args.ssl_policy,
            "hand_bind": _lb_tls.bind_line(hand_config, hand.port),
            "dockyard_bind": _lb_tls.bind_line(stack.rendered_config(), stack.https_port),
        }
        if args.keep_configs:
            keep = Path(args.keep_configs)
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "dockyard-haproxy.cfg").write_text(stack.rendered_config())
            for name in ("hand-haproxy.cfg", "hand-haproxy-tls.cfg"):
                if (stack.work / name).exists():
                    shutil.copy(stack.work / name, keep / name)
            print(f"HAProxy configurations copied to {keep}")
        seconds = max(1, round(args.duration / args.slices))
        clients = args.tls_clients
        phases: list[tuple[str, str, Load]] = [
            ("keepalive", load_text, http_load(args, stack.work))
        ]
        if args.load_tool == "wrk":
            phases.append(
                (
                    "resumed",
                    f"{load_text}, -H 'Connection: close'",
                    http_load(args, stack.work, headers=["Connection: close"]),
                )
            )
        phases.append(
            (
                "full",
                f"{clients} handshake client processes (bench/_load.py), "
                f"{args.slices} x {seconds} s per target interleaved",
                lambda urls, secs: handshake_run(urls, clients, secs),
            )
        )
        for key, tool, load in phases:
            print(f"HTTPS, {key}: {tool}")
            before = {n: _lb_tls.ssl_counters(*sockets[n]) for n in names}
            figures = throughput(load, targets, cpu_pids, args.slices, seconds)
            after = {n: _lb_tls.ssl_counters(*sockets[n]) for n in names}
            hand_fig, dy_fig = figures[HAND_TLS], figures[DOCKYARD_TLS]
            cpu_hand = hand_fig.get("haproxy_cpu_us_per_request")
            cpu_dy = dy_fig.get("haproxy_cpu_us_per_request")
            result[key] = {
                "tool": tool,
                "figures": figures,
                "handshakes": {n: _lb_tls.counter_delta(before[n], after[n]) for n in names},
                "ratio": dy_fig["rate"] / hand_fig["rate"] if hand_fig["rate"] else float("nan"),
                "cpu_ratio": cpu_dy / cpu_hand if cpu_dy and cpu_hand else None,
            }
        return result
    finally:
        hand.stop()


# --- rolling deployment under load ----------------------------------------------------------


@dataclass
class Outcome:
    at: float  # epoch seconds
    status: int  # 0: no answer
    error: str
    body: str


class PacedLoad:
    """GET at a fixed rate (open loop) on its own thread and event loop, until stopped."""

    def __init__(self, url: str, rate: float, limit_s: float, max_requests: int) -> None:
        self.url = url
        self.rate = rate
        self.limit_s = limit_s
        self.max_requests = max_requests
        self.outcomes: list[Outcome] = []
        self.late = 0  # requests that could not be sent on time (in-flight cap)
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="paced-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.limit_s + 15)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # reported by the caller
            self.error = error

    async def _run(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=100)
        timeout = aiohttp.ClientTimeout(total=5)
        inflight = asyncio.Semaphore(200)
        pending: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()

        async def one(session: aiohttp.ClientSession) -> None:
            at = time.time()
            try:
                async with session.get(self.url) as answer:
                    body = (await answer.read()).decode(errors="replace").strip()
                    self.outcomes.append(Outcome(at, answer.status, "", body[:40]))
            except (aiohttp.ClientError, TimeoutError) as error:
                text = f"{type(error).__name__}: {error}"[:160]
                self.outcomes.append(Outcome(at, 0, text, ""))
            finally:
                inflight.release()

        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = loop.time()
            self.started_at = time.time()
            sent = 0
            while (
                not self._stop.is_set()
                and sent < self.max_requests
                and loop.time() - start < self.limit_s
            ):
                delay = start + sent / self.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    self.late += 1
                await inflight.acquire()
                task = asyncio.create_task(one(session))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            self.stopped_at = time.time()
            if pending:
                await asyncio.wait(pending, timeout=10)


class Timeline:
    """Transitions of targets, HAProxy servers and deployments, by time."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.events: list[tuple[float, str]] = []
        self._last: dict[str, str] = {}
        self.servers_seen: dict[str, dict[str, str]] = {}  # last show stat row per server

    def note(self, key: str, value: str, at: float | None = None) -> None:
        if self._last.get(key) != value:
            self._last[key] = value
            self.events.append(((at or time.time()) - self.t0, f"{key}: {value}"))

    def reregistered(self) -> list[str]:
        """Targets that were draining and then came back as `initial` (registered again)."""
        seen: dict[str, list[str]] = {}
        for _t, text in sorted(self.events):
            if text.startswith("target "):
                key, state = text.split(": ", 1)
                seen.setdefault(key, []).append(state.split()[0])
        return [
            key
            for key, states in seen.items()
            if any(a == "draining" and b == "initial" for a, b in itertools.pairwise(states))
        ]

    def sample(self, stack: Stack) -> None:
        now = time.time()
        with contextlib.suppress(Exception):
            for d in stack.target_health():
                target = d["Target"]
                health = d["TargetHealth"]
                reason = health.get("Reason", "")
                key = f"target {target['Id'][-6:]}:{target['Port']}"
                self.note(key, f"{health['State']} {reason}".strip(), now)
        with contextlib.suppress(OSError):
            for row in show_stat(stack.admin_socket):
                if row.get("type") != "2":
                    continue
                self.servers_seen[f"{row['pxname']}/{row['svname']}"] = row
                key = f"haproxy {row['svname']} ({row['addr']})"
                check = row.get("check_status", "").removeprefix("* ")
                self.note(key, f"{row['status']} check={check}", now)
        with contextlib.suppress(Exception):
            service = stack.describe_service()
            parts = []
            for dep in service["deployments"]:
                rev = dep["taskDefinition"].rsplit(":", 1)[-1]
                parts.append(
                    f"{dep['status']}(rev {rev}) {dep.get('rolloutState')} "
                    f"running={dep.get('runningCount')} pending={dep.get('pendingCount')}"
                )
            self.note("deployments", "; ".join(parts), now)
            for event in service.get("events", [])[:5]:
                stamp = event["createdAt"].timestamp()
                if stamp >= self.t0 - 1:
                    self.note(f"event {event['id'][-8:]}", event["message"], stamp)
        with contextlib.suppress(Exception):
            for task in stack.tasks("RUNNING") + stack.tasks("STOPPED"):
                rev = task["taskDefinitionArn"].rsplit(":", 1)[-1]
                key = f"task {task['taskArn'][-6:]} (rev {rev})"
                self.note(key, f"{task['lastStatus']} desired={task['desiredStatus']}", now)


def rollout(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Update the service to auth:2 with 50/200 under paced load; count failed requests."""
    taskdef = stack.register_revision(IMAGE_V2)
    old_tasks = {t["taskArn"] for t in stack.tasks()}
    load = PacedLoad(stack.lb_url, args.rate, args.rollout_limit + 10, args.rollout_limit * 1000)
    timeline = Timeline(time.time())
    load.start()
    try:
        lead_until = time.monotonic() + 2.0
        while time.monotonic() < lead_until:
            timeline.sample(stack)
            time.sleep(0.25)
        t_update = time.time()
        timeline.note("update-service", f"-> {taskdef.rsplit('/', 1)[-1]} (50/200)")
        answer = stack.ecs.update_service(
            cluster=stack.cluster,
            service=stack.service,
            taskDefinition=taskdef,
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 50},
        )["service"]
        new_id = next(d["id"] for d in answer["deployments"] if d["status"] == "PRIMARY")
        until = stack.until(args.rollout_limit)
        t_completed: float | None = None
        t_clean: float | None = None
        while True:
            timeline.sample(stack)
            if t_completed is None:
                service = stack.describe_service()
                deps = service["deployments"]
                if (
                    len(deps) == 1
                    and deps[0]["id"] == new_id
                    and deps[0].get("rolloutState") == "COMPLETED"
                    and service.get("runningCount") == 2
                ):
                    t_completed = time.time()
            if t_completed is not None:
                health = stack.target_health()
                states = [d["TargetHealth"]["State"] for d in health]
                stopped = {
                    t["taskArn"] for t in stack.tasks("STOPPED") if t["lastStatus"] == "STOPPED"
                }
                old_running = old_tasks - stopped
                if states == ["healthy", "healthy"] and not old_running:
                    t_clean = time.time()
                    break
            if time.monotonic() > until:
                break
            time.sleep(0.25)
        tail_until = time.monotonic() + 2.0
        while time.monotonic() < tail_until:
            timeline.sample(stack)
            time.sleep(0.25)
    finally:
        load.stop()
    if load.error is not None:
        raise BenchError(f"the load client failed: {load.error!r}")
    outcomes = load.outcomes
    ok = [o for o in outcomes if 200 <= o.status < 300]
    non2xx = [o for o in outcomes if o.status and not 200 <= o.status < 300]
    conn_errors = [o for o in outcomes if not o.status]
    versions: dict[str, int] = {}
    for o in ok:
        versions[o.body] = versions.get(o.body, 0) + 1
    switch = [o.at - t_update for o in ok if o.body.endswith("v2")]
    last_v1 = [o.at - t_update for o in ok if o.body.endswith("v1")]
    sent_s = (load.stopped_at or time.time()) - load.started_at
    final_stat: list[dict[str, str]] = []
    with contextlib.suppress(OSError):
        final_stat = show_stat(stack.admin_socket)
    return {
        "requests": len(outcomes),
        "ok": len(ok),
        "non2xx": len(non2xx),
        "connection_errors": len(conn_errors),
        "late_sends": load.late,
        "load_seconds": sent_s,
        "achieved_rate": len(outcomes) / sent_s if sent_s > 0 else 0.0,
        "update_to_completed_s": None if t_completed is None else t_completed - t_update,
        "update_to_clean_s": None if t_clean is None else t_clean - t_update,
        "timed_out": t_clean is None,
        "answers": versions,
        "first_v2_s": min(switch) if switch else None,
        "last_v1_s": max(last_v1) if last_v1 else None,
        "failures": [
            {"t": o.at - t_update, "status": o.status, "error": o.error}
            for o in sorted(non2xx + conn_errors, key=lambda o: o.at)
        ],
        "timeline": sorted((t - (t_update - timeline.t0), text) for t, text in timeline.events),
        "reregistered": timeline.reregistered(),
        "servers_seen": timeline.servers_seen,
        "final_stat": [
            {k: row.get(k, "") for k in STAT_KEYS}
            for row in final_stat
            if row.get("pxname", "").startswith(("tg-", "lb-"))
        ],
    }


STAT_KEYS = (
    "pxname", "svname", "status", "stot", "hrsp_2xx", "hrsp_5xx", "econ", "eresp",
    "wretr", "wredis", "ereq", "dreq", "check_status",
)  # fmt: skip


# --- containers and processes ---------------------------------------------------------------


def remove_containers(cluster_arn: str, cluster: str) -> int:
    """Remove every container of this run's cluster (labels), whatever its state."""
    if not cluster_arn and not cluster:
        return 0
    import docker

    api = docker.from_env(timeout=60).api
    ids: set[str] = set()
    with contextlib.suppress(Exception):
        if cluster_arn:
            found = api.containers(all=True, filters={"label": f"{CLUSTER_LABEL}={cluster_arn}"})
            ids.update(c["Id"] for c in found)
    with contextlib.suppress(Exception):
        for c in api.containers(all=True, filters={"label": TASK_LABEL}):
            if f":task/{cluster}/" in (c.get("Labels") or {}).get(TASK_LABEL, ""):
                ids.add(c["Id"])

    def remove(container: str) -> bool:
        try:
            api.remove_container(container, force=True)
        except Exception:
            return False
        return True

    if not ids:
        return 0
    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(remove, sorted(ids)))


def end_leftover_haproxy(run_dir: Path) -> None:
    """The server stops its HAProxy; if it could not (killed), end that master by its pid."""
    pid_path = run_dir / "haproxy.pid"
    with contextlib.suppress(OSError, ValueError):
        for line in pid_path.read_text().split():
            pid = int(line)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"haproxy" in cmdline and str(run_dir).encode() in cmdline:
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
                print(f"  ended a leftover HAProxy master (pid {pid})")


def ensure_images() -> None:
    import docker
    import docker.errors

    client_ = docker.from_env(timeout=120)
    missing = []
    for image in (IMAGE_V1, IMAGE_V2):
        try:
            client_.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:  # used as they are when present: a rebuild would move tags under other users
        from dockyard.testing.images import build_test_images

        print(f"building test images ({', '.join(missing)} missing)")
        build_test_images(client_)


# --- report ---------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def report(summary: dict[str, Any]) -> None:
    bench = summary.get("throughput")
    if bench:
        tool = summary["load_tool_text"]
        print(f"\n== throughput: GET / (busybox httpd, {IMAGE_V1}), {tool} ==")
        print(
            f"  {'target':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}"
            f"  {'errors':<30} {'HAProxy CPU/req':>15}"
        )
        for name, fig in bench.items():
            errors = ", ".join(f"{k} {v}" for k, v in fig["errors"].items() if v) or "none"
            cpu = fig.get("haproxy_cpu_us_per_request")
            cpu_text = f"{cpu:.1f} us" if cpu is not None else "-"
            print(
                f"  {name:<24} {fig['rate']:>9,.0f} {fmt_ms(fig['p50_ms']):>8} "
                f"{fmt_ms(fig['p99_ms']):>8} {fig['requests']:>9,}  {errors:<30} {cpu_text:>15}"
            )
        dy, direct, hand = bench["dockyard LB"], bench["direct"], bench["hand-written HAProxy"]
        vs_direct = dy["rate"] / direct["rate"] if direct["rate"] else float("nan")
        vs_hand = dy["rate"] / hand["rate"] if hand["rate"] else float("nan")
        verdict = "met" if vs_hand >= RATIO_TARGET else "NOT met"
        cpu_dy = dy.get("haproxy_cpu_us_per_request")
        cpu_hand = hand.get("haproxy_cpu_us_per_request")
        print(f"  Dockyard LB / direct:               x{vs_direct:.2f} ({vs_direct:.0%})")
        print(
            f"  Dockyard LB / hand-written HAProxy: x{vs_hand:.2f} ({vs_hand:.0%}; "
            f"target >= {RATIO_TARGET:.0%}: {verdict})"
        )
        if cpu_dy and cpu_hand:
            print(
                f"  HAProxy CPU per request, Dockyard / hand-written: x{cpu_dy / cpu_hand:.2f} "
                "(the steadier figure on a busy machine)"
            )
        print(
            "  slices (req/s): "
            + "; ".join(
                f"{n} " + "/".join(f"{r:,.0f}" for r in f["slice_rates"]) for n, f in bench.items()
            )
        )
        print(
            "  Dockyard LB / hand-written HAProxy slice by slice: "
            + _lb_tls.paired_slices(dy["slice_rates"], hand["slice_rates"])
        )
    if summary.get("https"):
        _lb_tls.report_https(summary["https"], (HAND_TLS, DOCKYARD_TLS), RATIO_TARGET)
    roll = summary.get("rollout")
    if roll:
        print(
            f"\n== rolling deployment under load: {IMAGE_V1} -> {IMAGE_V2}, 50/200, "
            f"deregistration delay 5 s, checks every 5 s, rise 2 =="
        )

        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        print(
            f"  requests {roll['requests']:,} over {roll['load_seconds']:.1f} s "
            f"({roll['achieved_rate']:.0f} req/s; {roll['late_sends']} sent late)"
        )
        print(
            f"  failed: non-2xx {roll['non2xx']}, connection errors/timeouts "
            f"{roll['connection_errors']}   -> "
            + ("ZERO FAILED REQUESTS" if not roll["failures"] else "FAILURES (see below)")
        )
        print(
            f"  rollout: update -> COMPLETED {secs(roll['update_to_completed_s'])}, "
            f"-> old tasks STOPPED and 2 healthy targets {secs(roll['update_to_clean_s'])}"
            + ("  (TIMED OUT)" if roll["timed_out"] else "")
        )
        print(
            f"  answers: {roll['answers']}; first v2 at {secs(roll['first_v2_s'])}, "
            f"last v1 at {secs(roll['last_v1_s'])} after the update"
        )
        print("  timeline (s after UpdateService):")
        for t, text in roll["timeline"]:
            print(f"    {t:>6.2f}  {text}")
        if roll["reregistered"]:
            print(
                "  note: target(s) registered again after their drain, while their task was "
                f"being stopped: {', '.join(roll['reregistered'])} (see the events above)"
            )
        if roll["failures"]:
            print("  failed requests (s after UpdateService):")
            for f in roll["failures"][:30]:
                print(f"    {f['t']:>6.2f}  status {f['status']} {f['error']}")
            print(
                "  HAProxy show stat, last seen per server (stot/2xx/5xx/econ/eresp/wretr/wredis):"
            )
            for name, row in roll["servers_seen"].items():
                print(
                    f"    {name:<40} {row.get('status', ''):<10} stot {row.get('stot')} "
                    f"2xx {row.get('hrsp_2xx')} 5xx {row.get('hrsp_5xx')} econ {row.get('econ')} "
                    f"eresp {row.get('eresp')} wretr {row.get('wretr')} "
                    f"wredis {row.get('wredis')}"
                )
        print("  HAProxy show stat at the end (frontend/backend rows):")
        for row in roll["final_stat"]:
            if row["svname"] in {"FRONTEND", "BACKEND"}:
                print(
                    f"    {row['pxname']}/{row['svname']:<9} stot {row['stot']} "
                    f"2xx {row['hrsp_2xx']} 5xx {row['hrsp_5xx']} econ {row['econ']} "
                    f"eresp {row['eresp']} wretr {row['wretr']} wredis {row['wredis']} "
                    f"ereq {row['ereq']}"
                )


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="load seconds per target")
    parser.add_argument("--slices", type=int, default=2, help="interleaved slices per target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--load-tool", choices=["auto", "wrk", "aiohttp"], default="auto", help="auto: wrk if found"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="req/s during the rollout")
    parser.add_argument("--rollout-limit", type=float, default=100.0, help="seconds")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-rollout", action="store_true")
    parser.add_argument("--skip-https", action="store_true")
    parser.add_argument(
        "--ssl-policy",
        choices=sorted(POLICIES),
        default=_lb_tls.DEFAULT_SSL_POLICY,
        help="the HTTPS listener's (and the hand-written frontend's) versions and ciphers",
    )
    parser.add_argument(
        "--tls-clients", type=int, default=8, help="full-handshake client processes"
    )
    parser.add_argument(
        "--quick", action="store_true", help="--duration 4 --slices 2 (2 s slices), all phases"
    )
    parser.add_argument("--time-limit", type=float, default=330.0, help="seconds in all")
    parser.add_argument("--json", metavar="FILE", help="also save the figures")
    parser.add_argument(
        "--keep-configs", metavar="DIR", help="copy Dockyard's and the hand-written configs here"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.slices = 4, 2
    if not 1 <= args.tls_clients <= 32:
        parser.error("--tls-clients 1..32")
    if not 1 <= args.duration <= 60 or not 1 <= args.slices <= args.duration:
        parser.error("--duration 1..60, --slices 1..duration")
    if not 1 <= args.connections <= 1000 or not 1 <= args.threads <= 8:
        parser.error("--connections 1..1000, --threads 1..8")
    if not 1 <= args.rate <= 2000:
        parser.error("--rate 1..2000")

    wrk = shutil.which("wrk")
    if args.load_tool == "auto":
        args.load_tool = "wrk" if wrk else "aiohttp"
        if not wrk:
            print(
                "lb: wrk is not installed (apt-get install -y wrk); falling back to a bounded "
                "aiohttp load generator in this process. Its own CPU caps every figure: "
                "compare the ratios only, not with wrk runs."
            )
    elif args.load_tool == "wrk" and not wrk:
        raise SystemExit("lb: --load-tool wrk, but wrk is not installed (apt-get install -y wrk)")
    per = max(1, round(args.duration / args.slices))
    if args.load_tool == "wrk":
        load_text = (
            f"wrk {args.threads} threads {args.connections} connections, "
            f"{args.slices} x {per} s per target interleaved"
        )
    else:
        load_text = (
            f"aiohttp fallback (no wrk), {args.connections} connections, "
            f"{args.slices} x {per} s per target interleaved"
        )

    haproxy = haproxy_binary()
    install_signal_handlers()
    started = time.monotonic()
    deadline = started + args.time_limit
    summary: dict[str, Any] = {"load_start": os.getloadavg()[0], "load_tool": args.load_tool}
    summary["load_tool_text"] = load_text
    work = Path(tempfile.mkdtemp(prefix="bench-lb-"))
    tag = uuid.uuid4().hex[:8]
    stack: Stack | None = None
    try:
        ensure_images()
        with ServerSet() as servers:
            stack = Stack(servers, work, work / "data", tag, haproxy, deadline)
            try:
                stack.start()
                print(
                    f"server {stack.server.endpoint if stack.server else '?'}, agents on "
                    f"{', '.join(DOCKER_HOSTS)}, cluster {stack.cluster}, "
                    f"load {os.getloadavg()[0]:.1f}"
                )
                stack.build_service()
                direct = stack.wait_ready()
                print(
                    f"service {stack.service}: 2 tasks at {', '.join(direct)}; "
                    f"listener {stack.lb_url} ({time.monotonic() - started:.1f} s)"
                )
                if not args.skip_throughput:
                    hand = servers.start(hand_haproxy(haproxy, work, direct))
                    hand.wait_ready(10)
                    hand_url = f"http://127.0.0.1:{hand.port}/"
                    if http_get(hand_url)[0] != 200:
                        raise BenchError(f"hand-written HAProxy {hand_url} does not answer 200")
                    print(f"hand-written HAProxy on {hand_url}; {load_text}")
                    summary["throughput"] = throughput(
                        http_load(args, work),
                        {
                            "direct": direct,
                            "hand-written HAProxy": [hand_url],
                            "dockyard LB": [stack.lb_url],
                        },
                        {
                            "hand-written HAProxy": lambda: hand.pid,
                            "dockyard LB": stack.haproxy_pid,
                        },
                        args.slices,
                        per,
                    )
                    hand.stop()
                if not args.skip_https:
                    summary["https"] = https_phase(args, stack, direct, load_text)
                if not args.skip_rollout:
                    remaining = deadline - time.monotonic()
                    if remaining < 40:
                        raise BenchError(f"only {remaining:.0f} s left for the rollout")
                    args.rollout_limit = min(args.rollout_limit, remaining - 15)
                    print(
                        f"rollout under {args.rate:.0f} req/s "
                        f"(limit {args.rollout_limit:.0f} s), load {os.getloadavg()[0]:.1f}"
                    )
                    summary["rollout"] = rollout(args, stack)
            except BenchError:
                print(stack.log_tails(), file=sys.stderr)
                raise
    except BenchError as error:
        sys.exit(f"lb: {error}")
    finally:
        if stack is not None:
            end_leftover_haproxy(stack.run_dir)
            removed = remove_containers(stack.cluster_arn, stack.cluster)
            if removed:
                print(f"  removed {removed} container(s) of this run")
        shutil.rmtree(work, ignore_errors=True)
    summary["load_end"] = os.getloadavg()[0]
    summary["seconds"] = time.monotonic() - started
    report(summary)
    print(
        f"\nrun {summary['seconds']:.0f} s; machine load average {summary['load_start']:.1f} at "
        f"start, {summary['load_end']:.1f} at end ({os.cpu_count()} CPUs)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
