"""CloudWatch alarms actions (to be written)."""

from __future__ import annotations

from dockyard.api.context import Handler

HANDLERS: dict[str, Handler] = {}
