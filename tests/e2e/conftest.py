"""End-to-end fixtures: real `dockyard server` processes on free loopback ports, and the
helpers every e2e module shares (the aws CLI, refused boto3 calls, a cluster of fake-runtime
agents, HAProxy). The LB-on-Docker stack and its traffic helpers are in lb_stack.py."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.e2e.lb_stack import Stack

DATA = Path(__file__).parent / "data"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick_port(host: str = "127.0.0.1") -> int:
    """A free port in 20000-30000 (outside the kernel's ephemeral range, so nothing takes it
    meanwhile), for listeners and targets a test names itself; bounded attempts."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-30000")


@dataclass
class ServerProcess:
    """A `dockyard server` subprocess; can be killed (-9) and restarted on the same data."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait for /health (generous: CI runs three test processes
        and Docker on two cores); a server that never answers is stopped, not leaked."""
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dockyard",
                    "server",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log_path.read_text()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, service: str = "ecs", **kwargs: Any) -> Any:
        kwargs.setdefault("aws_access_key_id", "AKIDTEST")
        kwargs.setdefault("aws_secret_access_key", "secret")
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1", **kwargs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def ecs(server: ServerProcess) -> Any:
    return server.client()


def aws_cli(
    endpoint: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real aws CLI (awscli from PyPI, in this venv) against Dockyard."""
    base_env = dict(os.environ)
    base_env.update(
        AWS_ACCESS_KEY_ID="AKIDTEST",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
    )
    base_env.update(env or {})
    aws = Path(sys.executable).with_name("aws")
    return subprocess.run(
        [str(aws), *args, "--endpoint-url", endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        env=base_env,
        timeout=60,
        check=False,
    )


def aws_json(endpoint: str, *args: str) -> dict[str, Any]:
    """`aws <args>` that must succeed: its JSON answer ({} when it prints nothing)."""
    done = aws_cli(endpoint, *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)) if done.stdout.strip() else {}


def aws_error(endpoint: str, *args: str) -> str:
    """`aws <args>` that must fail: its stderr, where the CLI names AWS's error code."""
    done = aws_cli(endpoint, *args)
    assert done.returncode != 0, done.stdout
    return done.stderr


def client_error(call: Any, **params: Any) -> tuple[str, str]:
    """A boto3 call that must be refused with HTTP 400: AWS's error (code, message)."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return str(response["Error"]["Code"]), str(response["Error"]["Message"])


def docker_required() -> bool:
    """CI sets DOCKYARD_REQUIRE_DOCKER=1: a missing engine then fails instead of skipping."""
    return os.environ.get("DOCKYARD_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_images() -> dict[str, str]:
    """The locally built test images (busybox-based), built once per session."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        if docker_required():
            raise
        pytest.skip(f"no Docker engine answers: {exc}")
    from dockyard.testing.images import build_test_images

    return build_test_images(client)


@dataclass
class AgentProcess:
    """A `dockyard agent` subprocess simulating one host on its own loopback address."""

    endpoint: str
    data_dir: Path
    host_ip: str
    cluster: str = "stage01"
    cpu: int = 2048
    memory: int = 2048
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    instance_arn: str = ""

    def start(self, timeout: float = 30.0) -> None:
        ready = self.data_dir / "ready"
        ready.unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "agent.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dockyard",
                    "agent",
                    "--endpoint",
                    self.endpoint,
                    "--cluster",
                    self.cluster,
                    "--host-ip",
                    self.host_ip,
                    "--cpu",
                    str(self.cpu),
                    "--memory",
                    str(self.memory),
                    "--data-dir",
                    str(self.data_dir),
                    "--ready-file",
                    str(ready),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited early:\n{self.log()}")
            if ready.exists() and ready.read_text():
                self.instance_arn = ready.read_text()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"agent did not register in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.data_dir / "agent.log"
        return path.read_text() if path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(
    predicate: Any, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll until predicate() is truthy (returns it); bounded in time."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def remove_task_containers(cluster_arn_fragment: str = "") -> None:
    """Remove every container Dockyard started (by label), e.g. after a test."""
    try:
        import docker

        client = docker.from_env()
    except Exception:
        return
    for _attempt in range(3):  # an agent removing containers meanwhile can make a list 404
        try:
            # sparse: no per-container inspect (a container removed meanwhile would 404)
            listed = client.containers.list(
                all=True, sparse=True, filters={"label": "com.dockyard.task-arn"}
            )
        except docker.errors.NotFound:
            continue
        for container in listed:
            labels = container.attrs.get("Labels") or {}  # sparse objects: the list answer's
            if cluster_arn_fragment in labels.get("com.dockyard.cluster", ""):
                with contextlib.suppress(docker.errors.NotFound):  # already gone
                    container.remove(force=True)
        return


# --------------------------------------------------------------------------- a cluster


@dataclass
class ClusterEnv:
    """A server, one cluster and its `--fake-runtime` agents, made by `cluster_env`; a module
    subclasses it with its own views and waits."""

    server: ServerProcess
    ecs: Any
    cluster: str
    agents: list[AgentProcess]

    def cli(self, *args: str) -> dict[str, Any]:
        """`aws ecs <args>` that must succeed: its JSON answer."""
        return aws_json(self.server.endpoint, "ecs", *args)

    def cli_error(self, *args: str) -> str:
        """`aws ecs <args>` that must fail: its stderr."""
        return aws_error(self.server.endpoint, "ecs", *args)


EnvT = TypeVar("EnvT", bound=ClusterEnv)


@contextlib.contextmanager
def cluster_env(
    kind: type[EnvT],
    tmp_path: Path,
    prefix: str,
    hosts: Mapping[str, Sequence[str]],
    cpu: int = 2048,
    memory: int = 2048,
) -> Iterator[EnvT]:
    """A server and a cluster `<prefix>-<6 hex>` with one `--fake-runtime` agent per entry of
    `hosts` (its loopback address -> its other agent arguments), each registered before the
    body runs; agents and server stopped after, whatever happens."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    cluster = f"{prefix}-{uuid.uuid4().hex[:6]}"
    agents = [
        AgentProcess(
            server.endpoint,
            tmp_path / f"agent-{address}",
            address,
            cluster=cluster,
            cpu=cpu,
            memory=memory,
            extra_args=["--fake-runtime", *args],
        )
        for address, args in hosts.items()
    ]
    try:
        ecs = server.client()
        ecs.create_cluster(clusterName=cluster)
        for agent in agents:
            agent.start()
        yield kind(server, ecs, cluster, agents)
    finally:
        for agent in agents:
            agent.stop()
        server.stop()


# --------------------------------------------------------------------------- HAProxy


def haproxy_binary() -> str:
    """The HAProxy executable; without one the test skips (fails where CI requires it)."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        if docker_required():
            pytest.fail("haproxy is not installed")
        pytest.skip("haproxy is not installed")
    return found


def stop_haproxy(data_dir: Path) -> None:
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
def lb_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose load balancers its HAProxy serves; that HAProxy ended after."""
    server = ServerProcess(tmp_path / "data")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        stop_haproxy(server.data_dir)


@pytest.fixture
def stack(tmp_path: Path, docker_images: dict[str, str]) -> Iterator[Stack]:
    """The walkthrough's auth service settled behind its listener, on Docker (lb_stack.py)."""
    from tests.e2e.lb_stack import running_stack  # lb_stack imports this module

    with running_stack(tmp_path, docker_images) as built:
        yield built
