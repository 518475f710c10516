"""`dockyard status`: the servers of the control plane, which one leads and since when.

Reads `GET /dockyard/servers` of the server at --endpoint (any of them: on one PostgreSQL
they all read the same `servers` and `leases` rows; alone on SQLite, the one server leads).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.table import Table

from dockyard.cli.client import UnreachableError, settings, signed_get
from dockyard.cli.output import console, emit, table

PATH = "/dockyard/servers"


def fetch(endpoint: str, region: str) -> dict[str, Any]:
    """The servers (refused -> ApiError, no answer -> UnreachableError)."""
    with signed_get(endpoint, endpoint.rstrip("/") + PATH, region, timeout=10) as response:
        try:
            data: dict[str, Any] = json.loads(response.read())
        except OSError as error:
            raise UnreachableError(endpoint, str(error)) from None
    return data


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def servers_table(data: dict[str, Any]) -> Table:
    """The servers as a table: name, URL, role (leader/follower/down), since when."""
    rows = [
        (
            server["name"],
            server["url"],
            "leader" if server["leader"] else ("follower" if server["alive"] else "down"),
            _time(server.get("leaderSince")),
            server.get("epoch"),
            _time(server["startedAt"]),
            _time(server["heartbeatAt"]),
        )
        for server in data["servers"]
    ]
    columns = ["Name", "URL", "Role", "Leader since", "Epoch", "Started", "Heartbeat"]
    return table(columns, rows, numeric=["Epoch"])


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the servers, which is the leader, and since when."""
    options = settings(ctx)
    data = fetch(options.endpoint, options.region)
    emit(ctx, data, lambda: console().print(servers_table(data)))
