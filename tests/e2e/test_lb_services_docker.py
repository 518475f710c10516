"""ECS services behind an application load balancer, on real Docker and a real HAProxy.

Each test starts its own `dockyard server` (own data directory) and two Docker agents
on 127.0.1.1 and 127.0.1.2, then sets up what examples/walkthrough/run.sh does for
`auth`: a target group with health checks on the traffic port (interval 5 s, healthy
and unhealthy thresholds 2, deregistration delay 5 s), a load balancer with a listener
on a port in 20000-30000, and a service of 2 tasks (dockyard-demo/auth:1, container
port 10080, dynamic host ports) registered in the group. Everything goes through boto3
`ecs` and `elbv2` clients; traffic goes through the listener on loopback.

Every request loop is bounded in count and in time; containers, agents, the server
and its HAProxy are cleaned up even when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.conftest import AgentProcess, ServerProcess, remove_task_containers, wait_for

pytestmark = pytest.mark.e2e

WALKTHROUGH = Path(__file__).resolve().parents[2] / "examples" / "walkthrough"
CONTAINER, CONTAINER_PORT = "auth", 10080
INTERVAL_S, HEALTHY_THRESHOLD, UNHEALTHY_THRESHOLD, DEREGISTRATION_DELAY_S = 5, 2, 2, 5
# How long HAProxy may keep sending to a dead target: unhealthy threshold x interval,
# plus one interval for where the first failing check falls, plus controller steps.
HEALTH_WINDOW_S = INTERVAL_S * UNHEALTHY_THRESHOLD + INTERVAL_S


def pick_port(host: str = "127.0.0.1") -> int:
    """A free port in 20000-30000 (outside the kernel's ephemeral range); bounded attempts."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-30000")


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


def _stop_haproxy(data_dir: Path) -> None:
    """HAProxy ends with the server; if a failed stop left ours running, end it by its pid
    (only a live haproxy whose command line names this test's run directory)."""
    run_dir = data_dir / "haproxy"
    pid_file = run_dir / "haproxy.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return
    if "haproxy" in cmdline and str(run_dir.resolve()) in cmdline:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return


@pytest.fixture
def stack(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Stack]:
    with running_stack(tmp_path, docker_images) as built:
        yield built


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
        _stop_haproxy(server.data_dir)
        for _attempt in range(3):  # listing inspects each container: others may remove one
            try:
                remove_task_containers(cluster)
                break
            except docker.errors.NotFound:
                continue


# --------------------------------------------------------------------------- tests


def test_target_health_lists_exactly_the_running_tasks(stack: Stack) -> None:
    running = stack.running()
    assert len(running) == 2
    ids = stack.instance_ids()
    assert len({t["containerInstanceArn"] for t in running}) == 2, "spread over both instances"
    expected = stack.pairs_of(running)
    assert len(expected) == 2
    assert {instance for instance, _ in expected} == set(ids.values())

    described = stack.elbv2.describe_target_health(TargetGroupArn=stack.tg_arn)[
        "TargetHealthDescriptions"
    ]
    listed = {(d["Target"]["Id"], int(d["Target"]["Port"])) for d in described}
    assert listed == expected
    assert len(described) == len(expected)
    for description in described:
        assert description["TargetHealth"] == {"State": "healthy"}, description
        # health checks on the traffic port: the task's own dynamic host port
        assert description["HealthCheckPort"] == str(description["Target"]["Port"])

    # The targets are the routes: the listener reaches both tasks and nothing else.
    seen = {stack.task_of_answer() for _ in range(10)}
    assert seen == {t["taskArn"] for t in running}
    assert stack.get("/") == (200, "auth v1\n")


def test_killed_container_is_replaced_and_traffic_fails_at_most_a_health_window(
    stack: Stack,
) -> None:
    before = stack.running()
    victim = before[0]
    survivor_pairs = stack.pairs_of(before[1:])
    (victim_pair,) = stack.pairs_of([victim])
    client = docker.from_env()

    observed: dict[str, float] = {}
    with Load(
        stack.lb_host, stack.lb_port, rate=20, threads=2, max_requests=1400, max_seconds=70
    ) as load:
        time.sleep(2)  # a baseline of successes first
        assert load.snapshot() and not any(failed(o) for o in load.snapshot()), summary(
            load.snapshot()
        )
        container = client.containers.get(victim["containers"][0]["runtimeId"])
        killed_at = time.monotonic()  # before the call: the container may die mid-call
        container.kill()

        def victim_out() -> str | None:
            state = stack.states().get(victim_pair)
            if state in (None, "unhealthy", "draining"):
                return state or "deregistered"
            return None

        observed["victim"] = wait_for(
            victim_out,
            timeout=HEALTH_WINDOW_S + 5,
            interval=0.2,
            what="killed task's target unhealthy or deregistered",
        )
        observed["victim_out_s"] = time.monotonic() - killed_at

        def replaced() -> dict[str, Any] | None:
            settled = stack.settled(2)
            if settled is None or victim["taskArn"] in {t["taskArn"] for t in settled["tasks"]}:
                return None
            return settled

        settled = wait_for(
            replaced, timeout=60, interval=0.3, what="replacement registered and healthy"
        )
        observed["replaced_s"] = time.monotonic() - killed_at
        time.sleep(2)  # successes through the replacement too
        outcomes = load.stop()

    new_pairs = settled["pairs"] - survivor_pairs
    assert len(new_pairs) == 1 and victim_pair not in settled["pairs"]
    assert survivor_pairs <= settled["pairs"]
    assert victim_pair not in stack.target_health() or stack.states()[victim_pair] == "draining"
    messages = [e["message"] for e in stack.service()["events"]]
    assert any("has started 1 tasks" in m for m in messages)

    bad = [o for o in outcomes if failed(o)]
    span = bad[-1].at - bad[0].at if bad else 0.0
    print(
        f"\nkill: target {observed['victim']} after {observed['victim_out_s']:.1f}s, "
        f"replacement healthy after {observed['replaced_s']:.1f}s; {summary(outcomes)}; "
        f"failures spanned {span:.2f}s"
    )
    assert len(outcomes) >= 20 * 10, summary(outcomes)  # the load really ran all along
    assert span <= HEALTH_WINDOW_S, (
        f"failures for {span:.1f}s > {HEALTH_WINDOW_S}s: {summary(outcomes)}"
    )
    if bad:
        assert bad[0].at >= killed_at, "failures before the kill"
    # After the window the listener answers again: the last few seconds are clean.
    assert not any(failed(o) for o in outcomes if o.at > outcomes[-1].at - 2), summary(outcomes)
    assert {o.body for o in outcomes if not failed(o)} == {"auth v1\n"}


def test_rolling_update_under_load_has_no_errors(stack: Stack) -> None:
    old = stack.wait_settled(2)
    old_pairs = old["pairs"]
    second = stack.register(WALKTHROUGH / "auth-taskdef-v2.json")
    with Load(
        stack.lb_host, stack.lb_port, rate=60, threads=6, max_requests=6000, max_seconds=100
    ) as load:
        time.sleep(1.5)
        started = time.monotonic()
        stack.ecs.update_service(
            cluster=stack.cluster, service=stack.service_name, taskDefinition=second
        )

        def rolled() -> dict[str, Any] | None:
            settled = stack.settled(2)
            if settled is None or {t["taskDefinitionArn"] for t in settled["tasks"]} != {second}:
                return None
            return settled

        settled = wait_for(rolled, timeout=80, interval=0.3, what="rollout COMPLETED behind the LB")
        took = time.monotonic() - started
        time.sleep(1.5)
        outcomes = load.stop()

    print(f"\nrollout in {took:.1f}s; {summary(outcomes)}")
    assert len(outcomes) >= 50 * took * 0.8, summary(outcomes)  # ~60 req/s all along
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    bodies = [o.body for o in outcomes]
    assert set(bodies) <= {"auth v1\n", "auth v2\n"}
    assert "auth v1\n" in bodies and "auth v2\n" in bodies
    # Once v2 answered, v1 may still answer only while its targets drain (5 s).
    first_v2 = next(o.at for o in outcomes if o.body == "auth v2\n")
    last_v1 = max(o.at for o in outcomes if o.body == "auth v1\n")
    assert last_v1 < outcomes[-1].at, "v1 still answering at the end"
    tail = [o.body for o in outcomes if o.at > last_v1]
    assert tail and set(tail) == {"auth v2\n"}
    print(f"v1 and v2 both answered for {max(0.0, last_v1 - first_v2):.1f}s")

    service = settled["service"]
    assert service["taskDefinition"] == second
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["deployments"][0]["taskDefinition"] == second
    health = stack.target_health()
    assert set(health) == settled["pairs"], "exactly the new tasks' targets"
    assert not (old_pairs & set(health)), "old targets gone"
    assert {t["taskDefinitionArn"] for t in stack.tasks() if t["desiredStatus"] == "RUNNING"} == {
        second
    }
    after = [stack.get("/") for _ in range(10)]
    assert after == [(200, "auth v2\n")] * 10


def test_listener_rule_changes_under_load_have_no_errors(stack: Stack) -> None:
    def rule_answers(body: str) -> bool:
        return stack.get("/discover/") == (200, body)

    def forwarded() -> bool:
        status, body = stack.get("/discover/")
        return status == 200 and body.startswith("{") and "DOCKYARD_TASK_ARN" in body

    with Load(
        stack.lb_host,
        stack.lb_port,
        paths=("/", "/discover/"),
        rate=60,
        threads=4,
        max_requests=4000,
        max_seconds=60,
    ) as load:
        time.sleep(1)
        rule_arn = stack.elbv2.create_rule(
            ListenerArn=stack.listener_arn,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/discover/*"]}],
            Actions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/plain",
                        "MessageBody": "rule one",
                    },
                }
            ],
        )["Rules"][0]["RuleArn"]
        wait_for(
            lambda: rule_answers("rule one"), timeout=15, interval=0.2, what="rule one serving"
        )
        time.sleep(0.5)  # the load meets this version too
        stack.elbv2.modify_rule(
            RuleArn=rule_arn,
            Actions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/plain",
                        "MessageBody": "rule two",
                    },
                }
            ],
        )
        wait_for(
            lambda: rule_answers("rule two"), timeout=15, interval=0.2, what="rule two serving"
        )
        time.sleep(0.5)  # the load meets this version too
        stack.elbv2.modify_rule(
            RuleArn=rule_arn,
            Conditions=[{"Field": "path-pattern", "Values": ["/discover*"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": stack.tg_arn}],
        )
        wait_for(forwarded, timeout=15, interval=0.2, what="rule forwarding to the target group")
        time.sleep(1)
        outcomes = load.stop()

    print(f"\nrule changes: {summary(outcomes)}")
    assert len(outcomes) >= 100, summary(outcomes)
    assert not any(failed(o) for o in outcomes), summary(outcomes)
    assert {o.body for o in outcomes if o.path == "/"} == {"auth v1\n"}
    discover = {
        o.body if not o.body.startswith("{") else "json" for o in outcomes if o.path == "/discover/"
    }
    assert discover <= {"json", "rule one", "rule two"}
    assert {"rule one", "rule two", "json"} <= discover, "load saw every rule version"
    last_two = max(o.at for o in outcomes if o.body == "rule two")
    assert any(o.body.startswith("{") for o in outcomes if o.at > last_two), (
        "forward after rule two"
    )
    rules = stack.elbv2.describe_rules(ListenerArn=stack.listener_arn)["Rules"]
    (rule,) = [r for r in rules if r["RuleArn"] == rule_arn]
    assert rule["Conditions"][0]["Field"] == "path-pattern"
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/discover*"]
    assert rule["Actions"][0]["Type"] == "forward"
    # The targets never moved: a rule change reloads HAProxy, it does not touch them.
    assert stack.settled(2) is not None
