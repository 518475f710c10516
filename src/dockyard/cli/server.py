"""`dockyard server`: start the control plane."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import sqlalchemy.exc

from dockyard.server import ConfigError, ServerConfig, run


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--data-dir",
    default=".dockyard",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite store lives.",
)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--account-id", default="000000000000", show_default=True)
@click.option(
    "--credentials",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Access key id -> secret key file; every request must then be SigV4-signed.",
)
@click.option("--store-url", help="SQLAlchemy URL of the store (default: SQLite in --data-dir).")
@click.option(
    "--agent-grace",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds an agent may be disconnected before its tasks are given up.",
)
@click.option(
    "--task-retention",
    default=3600.0,
    show_default=True,
    type=float,
    help="Seconds STOPPED tasks stay describable.",
)
@click.option(
    "--metrics-retention",
    default=15 * 86400.0,
    show_default=True,
    type=float,
    help="Seconds minute-resolution metrics are kept (10-second ones: 3 hours).",
)
@click.option(
    "--logs-retention",
    default=7 * 86400.0,
    show_default=True,
    type=float,
    help="Seconds log events are kept in log groups without a retention policy.",
)
@click.option(
    "--target-tracking-period",
    default=60,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Period (seconds) of the alarms target-tracking policies create (AWS: 60).",
)
@click.option(
    "--lb-bind",
    default="127.0.0.1",
    show_default=True,
    help="Address the load balancers' listeners bind (HAProxy).",
)
@click.option("--haproxy", help="Path of the haproxy binary (default: haproxy on PATH).")
@click.option("--name", help="This server's name among several on one PostgreSQL (host:port).")
@click.option(
    "--lease-ttl",
    default=5.0,
    show_default=True,
    type=click.FloatRange(1.0, 300.0),
    help="Seconds the leader's lease lasts without renewal (several servers on PostgreSQL).",
)
@click.option(
    "--lb-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="HAProxy's run dir, shared by servers on one PostgreSQL (default: DATA_DIR/haproxy).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), hidden=True)
def server(
    host: str,
    port: int,
    data_dir: Path,
    region: str,
    account_id: str,
    credentials: Path | None,
    store_url: str | None,
    agent_grace: float,
    task_retention: float,
    metrics_retention: float,
    logs_retention: float,
    target_tracking_period: int,
    lb_bind: str,
    haproxy: str | None,
    name: str | None,
    lease_ttl: float,
    lb_dir: Path | None,
    log_level: str,
    ready_file: Path | None,
) -> None:
    """Run the Dockyard control plane (ECS API)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        region=region,
        account_id=account_id,
        credentials_file=credentials,
        store_url=store_url,
        agent_grace_s=agent_grace,
        task_retention_s=task_retention,
        metrics_retention_s=metrics_retention,
        logs_retention_s=logs_retention,
        target_tracking_period_s=target_tracking_period,
        lb_bind_address=lb_bind,
        haproxy=haproxy,
        name=name,
        lease_ttl_s=lease_ttl,
        lb_dir=lb_dir,
    )
    try:
        run(config, ready_file)
    except (ConfigError, ValueError) as error:
        click.echo(f"dockyard server: {error}", err=True)
        sys.exit(2)
    except sqlalchemy.exc.ArgumentError as error:  # a --store-url SQLAlchemy cannot use
        click.echo(f"dockyard server: --store-url: {error}", err=True)
        sys.exit(2)
    except sqlalchemy.exc.OperationalError as error:  # the database cannot be reached/opened
        click.echo(f"dockyard server: cannot open the store: {error.orig or error}", err=True)
        sys.exit(1)
    except OSError as error:
        click.echo(f"dockyard server: cannot listen on {host}:{port}: {error}", err=True)
        sys.exit(1)
