"""The load balancer stack the LB e2e modules share: the walkthrough's `auth` service on
real Docker behind a real HAProxy, bounded HTTP load through its listener, and small probes
of a load balancer's State and of a fixed-response listener.

`running_stack` starts a `dockyard server` (own data directory) and two Docker agents on
127.0.1.1 and 127.0.1.2, then sets up what examples/walkthrough/run.sh does for `auth`: a
target group with health checks on the traffic port (interval 5 s, healthy and unhealthy
thresholds 2, deregistration delay 5 s), a load balancer with a listener on a port in
20000-30000, and a service of 2 tasks (dockyard-demo/auth:1, container port 10080, dynamic
host ports) registered in the group; conftest's `stack` fixture yields it settled. Every
request loop is bounded in count and in time; containers, agents, the server and its
HAProxy are cleaned up even when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    pick_port,
    remove_task_containers,
    stop_haproxy,
    wait_for,
)

WALKTHROUGH = Path(__file__).resolve().parents[2] / "examples" / "walkthrough"
CONTAINER, CONTAINER_PORT = "auth", 10080
INTERVAL_S, HEALTHY_THRESHOLD, UNHEALTHY_THRESHOLD, DEREGISTRATION_DELAY_S = 5, 2, 2, 5
# How long HAProxy may keep sending to a dead target: unhealthy threshold x interval,
# plus one interval for where the first failing check falls, plus controller steps.
HEALTH_WINDOW_S = INTERVAL_S * UNHEALTHY_THRESHOLD + INTERVAL_S


# --------------------------------------------------------------------------- probes


def lb_state(elbv2: Any, name: str) -> dict[str, str]:
    """The load balancer's State (Code, and Reason when failed)."""
    return dict(elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]["State"])


def answers_ok(port: int) -> bool:
    """Whether a listener on 127.0.0.1:port answers GET / with 200 and body `ok`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
            return bool(answer.status == 200 and answer.read() == b"ok")
    except (OSError, urllib.error.URLError):
        return False


# --------------------------------------------------------------------------- load


@dataclass
class Outcome:
    at: float  # time.monotonic() when the request ended
    path: str
    status: int  # 0: connection error
    body: str


@dataclass
class Load:
    """Background HTTP clients through the listener: `threads` workers, `rate` req/s in
    total, each request on a new connection. Bounded by `max_requests` and `max_seconds`
    whatever the test does; stop() ends it sooner."""

    host: str
    port: int
    paths: tuple[str, ...] = ("/",)
    rate: float = 20.0
    threads: int = 2
    max_requests: int = 3000
    max_seconds: float = 90.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)
    _issued: int = 0

    def __enter__(self) -> Load:
        self.deadline = time.monotonic() + self.max_seconds
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)
        assert not any(w.is_alive() for w in self._workers), "load workers did not end"
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.at)

    def _take(self) -> bool:
        with self._lock:
            if self._issued >= self.max_requests:
                return False
            self._issued += 1
            return True

    def _run(self, index: int) -> None:
        period = self.threads / self.rate
        next_at = time.monotonic() + period * index / self.threads
        count = 0
        while not self._stop.is_set() and time.monotonic() < self.deadline and self._take():
            path = self.paths[count % len(self.paths)]
            count += 1
            outcome = request(self.host, self.port, path)
            with self._lock:
                self.outcomes.append(outcome)
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.at)


def request(host: str, port: int, path: str) -> Outcome:
    """One GET on a new connection (5 s timeout); status 0 for a connection error."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        answer = conn.getresponse()
        body = answer.read().decode(errors="replace")
        return Outcome(time.monotonic(), path, answer.status, body)
    except (OSError, http.client.HTTPException) as error:
        return Outcome(time.monotonic(), path, 0, repr(error))
    finally:
        conn.close()


def failed(outcome: Outcome) -> bool:
    return not 200 <= outcome.status < 300


def summary(outcomes: list[Outcome]) -> str:
    bad = [o for o in outcomes if failed(o)]
    kinds: dict[str, int] = {}
    for o in bad:
        key = f"HTTP {o.status}" if o.status else o.body[:80]
        kinds[key] = kinds.get(key, 0) + 1
    return f"{len(outcomes)} requests, {len(bad)} failed: {kinds}"


# --------------------------------------------------------------------------- stack


class Stack:
    """One server, two agents, and the walkthrough's auth service behind a listener."""

    def __init__(self, tmp_path: Path, server: ServerProcess, cluster: str) -> None:
        self.tmp_path, self.server, self.cluster = tmp_path, server, cluster
        self.ecs = server.client("ecs")
        self.elbv2 = server.client("elbv2")
        self.agents: list[AgentProcess] = []
        self.service_name = "auth"
        self.lb_port = 0
        self.lb_host = "127.0.0.1"
        self.tg_arn = self.lb_arn = self.listener_arn = ""

    # ---- setup

    def add_agent(self, index: int) -> AgentProcess:
        agent = AgentProcess(
            self.server.endpoint,
            self.tmp_path / f"agent{index}",
            f"127.0.1.{index}",
            cluster=self.cluster,
            extra_args=["--stop-timeout", "2s", "--cleanup-wait", "5s"],
        )
        self.agents.append(agent)
        agent.start()
        return agent

    def register(self, path: Path) -> str:
        doc = json.loads(path.read_text())
        arn = self.ecs.register_task_definition(**doc)["taskDefinition"]["taskDefinitionArn"]
        return str(arn)

    def create_balancer(self, deregistration_delay_s: int | None = DEREGISTRATION_DELAY_S) -> None:
        """`deregistration_delay_s` None keeps the target group's default (300 s)."""
        name = f"auth-{uuid.uuid4().hex[:6]}"
        self.tg_arn = self.elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            Port=CONTAINER_PORT,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort="traffic-port",
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=INTERVAL_S,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=HEALTHY_THRESHOLD,
            UnhealthyThresholdCount=UNHEALTHY_THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
        if deregistration_delay_s is not None:
            self.elbv2.modify_target_group_attributes(
                TargetGroupArn=self.tg_arn,
                Attributes=[
                    {
                        "Key": "deregistration_delay.timeout_seconds",
                        "Value": str(deregistration_delay_s),
                    }
                ],
            )
        balancer = self.elbv2.create_load_balancer(
            Name=name, Type="application", Scheme="internal"
        )["LoadBalancers"][0]
        self.lb_arn, self.lb_host = balancer["LoadBalancerArn"], balancer["DNSName"]
        self.lb_port = pick_port(self.lb_host)
        self.listener_arn = self.elbv2.create_listener(
            LoadBalancerArn=self.lb_arn,
            Protocol="HTTP",
            Port=self.lb_port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg_arn}],
        )["Listeners"][0]["ListenerArn"]

    def create_service(self, task_definition: str, desired: int = 2) -> None:
        self.ecs.create_service(
            cluster=self.cluster,
            serviceName=self.service_name,
            taskDefinition=task_definition,
            desiredCount=desired,
            launchType="EC2",
            loadBalancers=[
                {
                    "targetGroupArn": self.tg_arn,
                    "containerName": CONTAINER,
                    "containerPort": CONTAINER_PORT,
                }
            ],
            healthCheckGracePeriodSeconds=10,
            deploymentConfiguration={
                "maximumPercent": 200,
                "minimumHealthyPercent": 50,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
            placementStrategy=[{"type": "spread", "field": "instanceId"}],
        )

    # ---- views

    def service(self) -> dict[str, Any]:
        described = self.ecs.describe_services(cluster=self.cluster, services=[self.service_name])
        return dict(described["services"][0])

    def tasks(self) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=self.service_name)["taskArns"]
        if not arns:
            return []
        return list(self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"])

    def running(self) -> list[dict[str, Any]]:
        return [
            t
            for t in self.tasks()
            if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"
        ]

    def instance_ids(self) -> dict[str, str]:
        arns = self.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        described = self.ecs.describe_container_instances(
            cluster=self.cluster, containerInstances=arns
        )
        return {
            ci["containerInstanceArn"]: ci["ec2InstanceId"]
            for ci in described["containerInstances"]
        }

    def pairs_of(self, tasks: list[dict[str, Any]]) -> set[tuple[str, int]]:
        """(ec2InstanceId, hostPort) of each task's auth:10080 binding (DescribeTasks)."""
        ids = self.instance_ids()
        out: set[tuple[str, int]] = set()
        for task in tasks:
            for container in task["containers"]:
                if container["name"] != CONTAINER:
                    continue
                for binding in container.get("networkBindings", []):
                    if binding["containerPort"] == CONTAINER_PORT:
                        out.add((ids[task["containerInstanceArn"]], int(binding["hostPort"])))
        return out

    def target_health(self) -> dict[tuple[str, int], dict[str, Any]]:
        described = self.elbv2.describe_target_health(TargetGroupArn=self.tg_arn)
        return {
            (d["Target"]["Id"], int(d["Target"]["Port"])): d
            for d in described["TargetHealthDescriptions"]
        }

    def states(self) -> dict[tuple[str, int], str]:
        return {pair: d["TargetHealth"]["State"] for pair, d in self.target_health().items()}

    def settled(self, desired: int = 2) -> dict[str, Any] | None:
        """The service steady (one COMPLETED deployment, `desired` RUNNING) and the
        target group holding exactly those tasks' targets, all healthy."""
        service = self.service()
        if not (
            service["runningCount"] == desired
            and service["pendingCount"] == 0
            and len(service["deployments"]) == 1
            and service["deployments"][0]["rolloutState"] == "COMPLETED"
        ):
            return None
        running = self.running()
        pairs = self.pairs_of(running)
        if len(running) != desired or len(pairs) != desired:
            return None
        states = self.states()
        if states != dict.fromkeys(pairs, "healthy"):
            return None
        return {"service": service, "tasks": running, "pairs": pairs}

    def wait_settled(self, desired: int = 2, timeout: float = 60) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: self.settled(desired),
                timeout,
                interval=0.3,
                what="service settled behind the LB",
            )
        )

    def get(self, path: str = "/") -> tuple[int, str]:
        outcome = request(self.lb_host, self.lb_port, path)
        return outcome.status, outcome.body

    def task_of_answer(self) -> str:
        status, body = self.get("/discover/")
        assert status == 200, body
        return str(json.loads(body)["DOCKYARD_TASK_ARN"])

    # ---- actions

    def roll_out_under_load(
        self,
        task_definition: str,
        load: Load,
        timeout: float,
        old_arns: Sequence[str] = (),
        after_s: float = 1.5,
    ) -> tuple[dict[str, Any], float, list[Outcome]]:
        """UpdateService to `task_definition` 1.5 s into `load`; wait until the service is
        settled on it alone (and the tasks `old_arns` are STOPPED: their drains ended), let
        the load run `after_s` more and stop it. Returns the settled view, the seconds from
        UpdateService to settled, and the load's outcomes."""
        with load:
            time.sleep(1.5)
            started = time.monotonic()
            self.ecs.update_service(
                cluster=self.cluster, service=self.service_name, taskDefinition=task_definition
            )

            def rolled() -> dict[str, Any] | None:
                settled = self.settled(2)
                if settled is None:
                    return None
                if {t["taskDefinitionArn"] for t in settled["tasks"]} != {task_definition}:
                    return None
                if old_arns:
                    old = self.ecs.describe_tasks(cluster=self.cluster, tasks=list(old_arns))
                    if any(t["lastStatus"] != "STOPPED" for t in old["tasks"]):
                        return None  # the old tasks stop when their drain ends
                return settled

            what = "rollout COMPLETED behind the LB" + (", old tasks STOPPED" if old_arns else "")
            settled = wait_for(rolled, timeout=timeout, interval=0.3, what=what)
            took = time.monotonic() - started
            time.sleep(after_s)
            outcomes = load.stop()
        return dict(settled), took, outcomes


@contextlib.contextmanager
def running_stack(
    tmp_path: Path,
    docker_images: dict[str, str],
    deregistration_delay_s: int | None = DEREGISTRATION_DELAY_S,
) -> Iterator[Stack]:
    """The settled two-task auth service behind its listener; everything cleaned up after."""
    assert "dockyard-demo/auth:2" in docker_images
    cluster = f"lbsvc-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp_path / "server")
    built: Stack | None = None
    try:
        server.start()
        built = Stack(tmp_path, server, cluster)
        built.ecs.create_cluster(clusterName=cluster)
        built.add_agent(1)
        built.add_agent(2)
        built.create_balancer(deregistration_delay_s)
        first = built.register(WALKTHROUGH / "auth-taskdef.json")
        built.create_service(first)
        settled = built.wait_settled(2, timeout=60)
        assert {t["taskDefinitionArn"] for t in settled["tasks"]} == {first}
        yield built
    finally:
        for agent in built.agents if built is not None else []:
            agent.stop()
        server.stop()
        stop_haproxy(server.data_dir)
        remove_task_containers(cluster)
