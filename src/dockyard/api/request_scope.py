"""Facts about the request being handled that the AWS shapes do not carry, set by the
gateway (api/app.py) for each request: the base URL the client reached this server on
(DiscoverPollEndpoint answers with it). The caller's principal is
`dockyard.accounts.principals.CALLER` (below the API layer, read by domain code).
"""

from __future__ import annotations

from contextvars import ContextVar

BASE_URL: ContextVar[str] = ContextVar("dockyard_request_base_url", default="")
