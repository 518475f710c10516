"""`dockyard agent`: run the per-host agent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from dockyard.agent.config import ConfigError, build_config


@click.command()
@click.option(
    "--endpoint",
    envvar="DOCKYARD_ENDPOINT",
    multiple=True,
    help="Dockyard server URL; repeat for several servers (the agent uses any live one).",
)
@click.option("--cluster", help="Cluster to join (ECS_CLUSTER).")
@click.option("--host-ip", help="Address this host's task ports bind on, e.g. 127.0.1.1.")
@click.option("--cpu", type=int, help="CPU units to register (default: cores x 1024).")
@click.option("--memory", type=int, help="MiB to register (default: total - ECS_RESERVED_MEMORY).")
@click.option("--attribute", multiple=True, help="Custom attribute key=value (repeatable).")
@click.option("--availability-zone", help="Value of the ecs.availability-zone attribute.")
@click.option(
    "--capacity-provider",
    help="Capacity provider this instance belongs to (ECS_CAPACITY_PROVIDER).",
)
@click.option("--dynamic-port-range", help="Dynamic host port range, e.g. 49153-65535.")
@click.option("--stop-timeout", help="Default container stop timeout (e.g. 30s).")
@click.option("--cleanup-wait", help="How long stopped containers are kept (e.g. 3h, 10s).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ECS-style env file (ECS_CLUSTER=..., ECS_INSTANCE_ATTRIBUTES=...).",
)
@click.option(
    "--access-key-id",
    envvar="DOCKYARD_ACCESS_KEY_ID",
    help="Access key for a server started with --credentials.",
)
@click.option("--secret-access-key", envvar="DOCKYARD_SECRET_ACCESS_KEY")
@click.option("--fake-runtime", is_flag=True, help="Simulated host: in-memory containers.")
@click.option("--awsvpc-pool", help="Addresses for awsvpc tasks, e.g. 127.0.2.0/24.")
@click.option(
    "--metadata-port",
    type=click.IntRange(0, 65535),
    help="Task metadata endpoint port on the Docker bridge gateway (default: a free one).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), hidden=True)
def agent(config_file: Path | None, log_level: str, ready_file: Path | None, **flags: Any) -> None:
    """Run the Dockyard agent on this host."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = build_config(flags, config_file)
    except ConfigError as error:
        click.echo(f"dockyard agent: {error}", err=True)
        sys.exit(2)
    from botocore.exceptions import ClientError

    from dockyard.agent.main import run_agent

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_agent(config, ready_file))
    except ClientError as error:
        details = error.response["Error"]
        click.echo(f"dockyard agent: {details['Code']}: {details['Message']}", err=True)
        sys.exit(1)
