"""The `dockyard` entry point: one click group; each sub-command lives in its own module.

dockyard server ...      control plane (cli/server.py)
dockyard cluster ...     friendly commands over the ECS API (cli/clusters.py, ...)
"""

from __future__ import annotations

import click

from dockyard import __version__

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dockyard")
@click.option(
    "--endpoint",
    envvar="DOCKYARD_ENDPOINT",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="Dockyard server URL (or DOCKYARD_ENDPOINT).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format for the friendly commands.",
)
@click.option("--region", envvar="AWS_DEFAULT_REGION", default="us-east-1", show_default=True)
@click.pass_context
def main(ctx: click.Context, endpoint: str, output: str, region: str) -> None:
    """Dockyard: run the Amazon ECS model on your own machines."""
    ctx.ensure_object(dict)
    ctx.obj.update(endpoint=endpoint, output=output, region=region)


def _register() -> None:
    from dockyard.cli import agent, local, server

    main.add_command(server.server)
    main.add_command(agent.agent)
    main.add_command(local.up)
    main.add_command(local.down)
    try:
        from dockyard.cli import resources
    except ImportError:  # pragma: no cover - resources module is optional during bootstrap
        return
    for command in resources.COMMANDS:
        main.add_command(command)


_register()
