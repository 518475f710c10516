"""The CloudWatch Logs subset on AWS JSON 1.1 (`X-Amz-Target: Logs_20140328.<Action>`).

Groups and streams in `groups.py`, events in `events.py`; storage in
`dockyard.logs` (its own SQLite file). Agents ship container output over their
websocket (`dockyard.logs.shipping`), not through these handlers.
"""

from __future__ import annotations

from dockyard.api.json_protocol import JsonService
from dockyard.api.logs import events, groups
from dockyard.context import Handler

HANDLERS: dict[str, Handler] = {**groups.HANDLERS, **events.HANDLERS}

LOGS = JsonService(model_name="logs", handlers=HANDLERS)
