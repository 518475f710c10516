"""`dockyard up --ha` end to end, through the real CLI: PostgreSQL (Debian's, initdb/pg_ctl
in the data dir as a non-root user), three servers on it and two Docker agents given every
endpoint; `dockyard status` shows the three servers and the leader; a task runs on Docker
and a listener answers through HAProxy; `kill -9` of the leader -> another server leads.
`dockyard down` then stops every process (HAProxy and PostgreSQL included) and removes the
task containers.
"""

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
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from dockyard.cli.local_ha import alive
from dockyard.store.pg_local import LocalPostgres
from tests.e2e.conftest import remove_task_containers, wait_for
from tests.e2e.lb_stack import WALKTHROUGH
from tests.e2e.test_ha_docker import leader_of, running_containers, servers_of

pytestmark = pytest.mark.e2e


def three_free_ports() -> int:
    """A port P in 20000-30000 with P, P+1 and P+2 free (bounded attempts)."""
    for _ in range(200):
        base = random.randint(20000, 29997)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + 3):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError("no three free ports in 20000-30000")


def dockyard(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", AWS_ACCESS_KEY_ID="AKIDTEST",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True, text=True, timeout=timeout, check=False, env=env,
    )  # fmt: skip


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's tmp dirs (mode 0700): PostgreSQL runs as another user and must
    reach its data dir."""
    root = Path(tempfile.mkdtemp(prefix="dockyard-upha-"))
    root.chmod(0o755)
    yield root / "dy"
    shutil.rmtree(root, ignore_errors=True)


def pids_of(data_dir: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (data_dir / "pids").glob("*.pid")}


def test_up_ha_status_failover_and_down(docker_images: dict[str, str], data_dir: Path) -> None:
    assert "dockyard-demo/auth:1" in docker_images
    port, cluster = three_free_ports(), f"upha-{uuid.uuid4().hex[:6]}"
    endpoints = [f"http://127.0.0.1:{port + i}" for i in range(3)]
    started: dict[str, int] = {}
    haproxy_pid = 0
    try:
        up = dockyard("up", "--ha", "--data-dir", str(data_dir), "--port", str(port),
                      "--cluster", cluster, "--agents", "2", timeout=400)  # fmt: skip
        print(up.stdout)
        assert up.returncode == 0, up.stdout + up.stderr
        started = pids_of(data_dir)
        assert set(started) == {"server1", "server2", "server3", "agent1", "agent2"}
        # `up` ends with `dockyard status`: the three servers, one of them leading.
        rows = [line.split("│") for line in up.stdout.splitlines() if line.startswith("│ server")]
        roles = {row[1].strip(): row[3].strip() for row in rows}
        assert sorted(roles) == ["server1", "server2", "server3"], up.stdout
        assert sorted(roles.values()) == ["follower", "follower", "leader"], up.stdout

        status = dockyard("--endpoint", endpoints[2], "-o", "json", "status")
        assert status.returncode == 0, status.stderr
        servers = json.loads(status.stdout)["servers"]
        assert sorted(s["name"] for s in servers) == ["server1", "server2", "server3"]
        assert all(s["alive"] for s in servers)
        leaders = [s for s in servers if s["leader"]]
        assert len(leaders) == 1 and leaders[0]["leaderSince"], servers
        leader = leaders[0]["name"]
        url_of = {s["name"]: s["url"] for s in servers}
        assert set(url_of.values()) == set(endpoints)
        follower = next(url for name, url in url_of.items() if name != leader)

        # The store is the PostgreSQL `up` started, run by a non-root user when run as root.
        pg = LocalPostgres.create(data_dir / "postgres")
        assert pg.running()
        if os.geteuid() == 0:
            assert pg.data_dir.stat().st_uid != 0

        # Agents on Docker run a task; a listener answers through HAProxy.
        ecs, elbv2 = (boto3.client(name, endpoint_url=follower, region_name="us-east-1",
                                   aws_access_key_id="AKIDTEST", aws_secret_access_key="secret")
                      for name in ("ecs", "elbv2"))  # fmt: skip
        described = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
        assert described["registeredContainerInstancesCount"] == 2
        doc = json.loads((WALKTHROUGH / "auth-taskdef.json").read_text())
        ecs.register_task_definition(**doc)
        task_arn = ecs.run_task(cluster=cluster, taskDefinition="auth")["tasks"][0]["taskArn"]

        def task_running() -> bool:
            task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
            return bool(task["lastStatus"] == "RUNNING")

        wait_for(task_running, timeout=90, interval=0.3, what="the task RUNNING")
        assert running_containers(cluster) == [task_arn]
        lb_port = three_free_ports()
        balancer = elbv2.create_load_balancer(Name="upha", Type="application")
        elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancers"][0]["LoadBalancerArn"],
            Protocol="HTTP", Port=lb_port,
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "up --ha"}}],
        )  # fmt: skip
        dns = balancer["LoadBalancers"][0]["DNSName"]
        wait_for(lambda: fixed_response(dns, lb_port) == "up --ha", timeout=60,
                 what="the listener answering")  # fmt: skip
        pid_file = data_dir / "haproxy" / "haproxy.pid"
        haproxy_pid = int(pid_file.read_text().split()[0])

        # kill -9 the leader: another server leads; HAProxy keeps serving.
        os.kill(started[leader], signal.SIGKILL)
        new_leader = wait_for(lambda: leader_of(follower) not in (None, leader)
                              and leader_of(follower), timeout=60, what="a new leader")  # fmt: skip
        print(f"leader {leader} killed; {new_leader} leads")
        assert fixed_response(dns, lb_port) == "up --ha"
        assert int(pid_file.read_text().split()[0]) == haproxy_pid  # adopted, not restarted
    finally:
        down = dockyard("down", "--data-dir", str(data_dir), timeout=180)
        print(down.stdout, down.stderr)
        leftovers = [name for name, pid in started.items() if alive(pid)]
        haproxy_left = bool(haproxy_pid) and alive(haproxy_pid)
        pg_left = (data_dir / "postgres" / "data").exists() and LocalPostgres.create(
            data_dir / "postgres"
        ).running()
        containers_left = running_containers(cluster)
        cleanup(started, haproxy_pid, data_dir, cluster)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not leftovers and not haproxy_left and not pg_left, (leftovers, haproxy_left, pg_left)
    assert containers_left == []
    assert "Stopped HAProxy." in down.stdout and "Stopped PostgreSQL." in down.stdout
    assert servers_of(endpoints[0]) == [] and servers_of(follower) == []


def fixed_response(host: str, port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def cleanup(started: dict[str, int], haproxy_pid: int, data_dir: Path, cluster: str) -> None:
    """Whatever `down` left (only processes this test started, by pid)."""
    for pid in [*started.values(), haproxy_pid]:
        if pid and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if (data_dir / "postgres" / "data").exists():
        with contextlib.suppress(Exception):
            LocalPostgres.create(data_dir / "postgres").stop("immediate")
    remove_task_containers(cluster)
