"""The `dockyard` entry point: one click group; each sub-command lives in its own module.

    dockyard server ...      control plane (cli/server.py)
    dockyard agent ...       per-host agent (cli/agent.py)
    dockyard up | down       a whole local Dockyard (cli/local.py)
    dockyard cluster ...     friendly commands over the ECS API (cli/resources.py)

Sub-commands are imported lazily: `dockyard cluster ls` should not pay for
importing the server (aiohttp, SQLAlchemy) at every call.
"""

from __future__ import annotations

import importlib

import click

from dockyard import __version__

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"

# command name -> "module:attribute"
LAZY_COMMANDS = {
    "server": "dockyard.cli.server:server",
    "agent": "dockyard.cli.agent:agent",
    "up": "dockyard.cli.local:up",
    "down": "dockyard.cli.local:down",
    "cluster": "dockyard.cli.resources:cluster",
    "taskdef": "dockyard.cli.resources:taskdef",
    "instance": "dockyard.cli.resources:instance",
    "task": "dockyard.cli.tasks:task",
    "service": "dockyard.cli.services:service",
    "metrics": "dockyard.cli.metrics:metrics",
    "logs": "dockyard.cli.logs:logs",
    "status": "dockyard.cli.status:status",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
