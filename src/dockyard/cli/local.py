"""`dockyard up` / `dockyard down`: a whole local Dockyard in one command.

`up` starts the control plane as a background process (pid and log in
--data-dir), waits until it answers, creates the cluster and starts the agents;
`up --ha` starts PostgreSQL and three servers on it instead (cli/local_ha.py). `down`
stops every process `up` started; the data stays unless --purge.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import click

from dockyard.cli import local_ha


def _pid_dir(data_dir: Path) -> Path:
    return data_dir / "pids"


_alive = local_ha.alive


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _start(name: str, args: list[str], data_dir: Path) -> int:
    pids = _pid_dir(data_dir)
    pids.mkdir(parents=True, exist_ok=True)
    with (data_dir / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (pids / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


@click.command()
@click.option(
    "--data-dir",
    default=".dockyard",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--cluster", default="stage01", show_default=True)
@click.option(
    "--agents",
    default=2,
    show_default=True,
    type=click.IntRange(0, 200),
    help="Simulated hosts, each an agent on its own 127.0.1.N.",
)
@click.option("--fake-runtime", is_flag=True, help="Agents keep containers in memory (no Docker).")
@click.option(
    "--ha",
    is_flag=True,
    help="PostgreSQL plus three servers (--port, +1, +2) on it; agents get every endpoint.",
)
@click.pass_context
def up(
    ctx: click.Context,
    data_dir: Path,
    port: int,
    cluster: str,
    agents: int,
    fake_runtime: bool,
    ha: bool,
) -> None:
    """Start a local control plane and agents, and create a cluster."""
    data_dir = data_dir.resolve()
    endpoint = f"http://127.0.0.1:{port}"
    endpoints = [endpoint]
    if ha:
        endpoints = local_ha.start_control_plane(data_dir, port, _start, _answers)
    elif _answers(endpoint):
        click.echo(f"Dockyard already answers at {endpoint}")
    else:
        server_data = data_dir / "server"
        pid = _start(
            "server", ["server", "--port", str(port), "--data-dir", str(server_data)], data_dir
        )
        deadline = time.monotonic() + 30
        while not _answers(endpoint):
            if not _alive(pid) or time.monotonic() > deadline:
                log = (data_dir / "server.log").read_text()[-2000:]
                raise click.ClickException(f"the server did not come up:\n{log}")
            time.sleep(0.1)
        click.echo(f"Control plane up at {endpoint} (pid {pid}, log {data_dir / 'server.log'})")
    ecs = boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "dockyard"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "dockyard"),
    )
    arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
    click.echo(f"Cluster {cluster}: {arn}")
    if agents and not fake_runtime:
        import docker

        from dockyard.cli.images import build_test_images

        images = build_test_images(docker.from_env())
        click.echo(f"Example images: {', '.join(sorted(images))}")
    _start_agents(data_dir, endpoints, cluster, agents, fake_runtime)
    wanted = agents
    deadline = time.monotonic() + 60
    while wanted:
        count = ecs.describe_clusters(clusters=[cluster])["clusters"][0][
            "registeredContainerInstancesCount"
        ]
        if count >= wanted:
            click.echo(f"{count} container instance(s) registered in {cluster}")
            break
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"only {count} of {wanted} agents registered; see {data_dir}"
            )
        time.sleep(0.2)
    if ha:
        local_ha.print_status(ctx, endpoint)
        click.echo(
            "Kill the leader (kill -9 $(cat "
            f"{_pid_dir(data_dir)}/<leader>.pid)) and watch `dockyard status`: another"
            " server leads within a few seconds."
        )
    click.echo(
        "\nLook around:\n"
        f"  export DOCKYARD_ENDPOINT={endpoint}\n"
        "  .venv/bin/dockyard cluster ls\n"
        f"  .venv/bin/dockyard instance ls --cluster {cluster}\n"
        "  .venv/bin/dockyard taskdef register examples/taskdefs/web.json\n"
        f"  .venv/bin/dockyard task run --cluster {cluster} web --count 2\n"
        f"  .venv/bin/dockyard task ls --cluster {cluster}\n"
        f"  .venv/bin/aws ecs describe-clusters --clusters {cluster} --endpoint-url {endpoint}\n"
        + ("  .venv/bin/dockyard status\n" if ha else "")
        + "  .venv/bin/dockyard down          # stop everything"
    )


def _remove_task_containers(data_dir: Path) -> int:
    """Containers of the agents `up` started (agents leave them running when they stop)."""
    import json

    instances = set()
    for state in data_dir.glob("agent*/agent-state.json"):
        instances.add(json.loads(state.read_text()).get("containerInstanceArn"))
    if not instances:
        return 0
    try:
        import docker

        client = docker.from_env()
        containers = client.containers.list(
            all=True, filters={"label": "com.dockyard.container-instance"}
        )
    except Exception:  # no engine: nothing of ours can be running
        return 0
    removed = 0
    for container in containers:
        if container.labels.get("com.dockyard.container-instance") in instances:
            container.remove(force=True)
            removed += 1
    return removed


def _start_agents(
    data_dir: Path, endpoints: list[str], cluster: str, count: int, fake_runtime: bool
) -> None:
    from dockyard.agent.config import total_memory_mib

    cpu = max((os.cpu_count() or 1) * 1024 // max(count, 1), 128)
    memory = max(total_memory_mib() // max(count, 1) - 256, 256)
    for index in range(1, count + 1):
        name = f"agent{index}"
        pid_file = _pid_dir(data_dir) / f"{name}.pid"
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            continue
        args = [
            "agent", *[arg for e in endpoints for arg in ("--endpoint", e)], "--cluster", cluster,
            "--host-ip", f"127.0.1.{index}", "--cpu", str(cpu), "--memory", str(memory),
            "--availability-zone", f"local-{'ab'[index % 2]}",
            "--data-dir", str(data_dir / name),
        ]  # fmt: skip
        if fake_runtime:
            args.append("--fake-runtime")
        pid = _start(name, args, data_dir)
        click.echo(f"Agent {name} on 127.0.1.{index} (pid {pid}, log {data_dir / (name + '.log')})")


@click.command()
@click.option(
    "--data-dir",
    default=".dockyard",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--purge", is_flag=True, help="Also delete the data directory.")
def down(data_dir: Path, purge: bool) -> None:
    """Stop everything `dockyard up` started."""
    pids = _pid_dir(data_dir)
    stopped = 0
    # agents first, the servers last (so agents do not report into a dead server)
    files = sorted(pids.glob("*.pid"), key=lambda p: p.stem.startswith("server"))
    files = files if pids.exists() else []
    for pid_file in files:
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped += 1
        pid_file.unlink()
    click.echo(f"Stopped {stopped} process(es).")
    local_ha.stop_data_plane(data_dir)  # after `up --ha`: HAProxy, PostgreSQL
    removed = _remove_task_containers(data_dir)
    if removed:
        click.echo(f"Removed {removed} task container(s).")
    if purge and data_dir.exists():
        shutil.rmtree(data_dir)
        click.echo(f"Removed {data_dir}.")
