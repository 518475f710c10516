"""CloudWatch Logs storage: groups, streams and events apart from the control store.

`store.LogStore` keeps them in `logs.db`; `filter_pattern` compiles FilterLogEvents
patterns; `tokens` encodes stream positions; `shipping` stores what agents ship.
The API handlers live in `dockyard.api.logs`, the agent's side in
`dockyard.agent.logs_shipper`.
"""

from dockyard.logs.store import LogStore

__all__ = ["LogStore"]
