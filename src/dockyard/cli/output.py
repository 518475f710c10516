"""What the friendly commands print: rich tables for people, raw API JSON for scripts.

Cells are always `Text`, never markup, so a name like "[red]x" prints as is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockyard.cli.client import EXIT_API_ERROR, settings

# Piped output (grep, less) keeps one row per line instead of folding at 80 columns.
PIPE_WIDTH = 200


def console() -> Console:
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = max(out.width, PIPE_WIDTH)
    return out


def strip_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """The API payload without boto3's ResponseMetadata."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def print_json(data: Any) -> None:
    """JSON for scripts: datetimes and other non-JSON values become strings."""
    if isinstance(data, Mapping):
        data = strip_metadata(data)
    click.echo(json.dumps(data, indent=2, default=str))


def emit(ctx: click.Context, response: Any, render: Callable[[], None]) -> None:
    """Print `response` as JSON under `--output json`, else call `render` (tables, messages)."""
    if settings(ctx).json:
        print_json(response)
    else:
        render()


def message(text: str) -> None:
    """A one-line human message on stdout (table mode)."""
    click.echo(text)


def fmt(value: Any) -> str:
    """A cell value: '-' for missing, yes/no for booleans, local ISO time for datetimes."""
    if value is None or value in ("", [], {}):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone().isoformat(sep=" ", timespec="seconds")
    return str(value)


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    numeric: Iterable[str] = (),
) -> Table:
    """A table; `numeric` names the right-aligned columns. Long values fold, never truncate."""
    right = set(numeric)
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        result.add_row(*(Text(fmt(value)) for value in row))
    return result


def details(
    pairs: Iterable[tuple[str, Any]], *, title: str | None = None, skip_empty: bool = False
) -> Table:
    """A two-column key/value view for describe commands; `skip_empty` drops '-' rows."""
    result = Table.grid(padding=(0, 2))
    if title:
        result.title = title
        result.title_justify = "left"
        result.title_style = "bold"
    result.add_column(style="bold", no_wrap=True)
    result.add_column(overflow="fold")
    for key, value in pairs:
        text = fmt(value)
        if not (skip_empty and text == "-"):
            result.add_row(Text(key), Text(text))
    return result


def show(*renderables: Any) -> None:
    """Print tables (separated by blank lines) to stdout."""
    out = console()
    for index, renderable in enumerate(renderables):
        if index:
            out.print()
        out.print(renderable)


def short_id(arn: str) -> str:
    """The last path element of an ARN: a cluster name, task id, container instance id."""
    return arn.rsplit("/", 1)[-1]


def tags_text(tags: Iterable[Mapping[str, str]] | None) -> str:
    return ", ".join(f"{tag.get('key')}={tag.get('value', '')}" for tag in tags or [])


def resource_value(resources: Iterable[Mapping[str, Any]] | None, name: str) -> Any:
    """The value of one ECS Resource (CPU, MEMORY, PORTS, ...) from a resources list."""
    for resource in resources or []:
        if resource.get("name") == name:
            kind = resource.get("type", "INTEGER")
            if kind == "STRINGSET":
                return resource.get("stringSetValue", [])
            if kind == "DOUBLE":
                return resource.get("doubleValue")
            if kind == "LONG":
                return resource.get("longValue")
            return resource.get("integerValue")
    return None


def report_failures(failures: Sequence[Mapping[str, Any]]) -> None:
    """Print each Describe* failure to stderr as `Error (MISSING): arn`; exit 1 if any."""
    if not failures:
        return
    for failure in failures:
        detail = failure.get("detail")
        click.echo(
            f"Error ({failure.get('reason', 'UNKNOWN')}): {failure.get('arn') or '?'}"
            + (f" ({detail})" if detail else ""),
            err=True,
        )
    raise click.exceptions.Exit(EXIT_API_ERROR)
