"""The CloudWatch API subset, served on both protocols botocore knows for it:
AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Action>`, what current
botocore sends) and the query protocol (`Action=...&Version=2010-08-01`, older SDKs).

Metric actions live in `metrics.py`, alarm actions in `alarms.py`.
"""

from __future__ import annotations

from dockyard.api.cloudwatch import alarms, metrics
from dockyard.api.json_protocol import JsonService
from dockyard.api.query_protocol import QueryService
from dockyard.context import Handler

HANDLERS: dict[str, Handler] = {**metrics.HANDLERS, **alarms.HANDLERS}

CLOUDWATCH = JsonService(
    model_name="cloudwatch", handlers=HANDLERS, validation_error="InvalidParameterValue"
)
CLOUDWATCH_QUERY = QueryService(
    model_name="cloudwatch", handlers=HANDLERS, validation_error="InvalidParameterValue"
)
