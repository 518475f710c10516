"""Application Auto Scaling (AWS JSON 1.1, `AnyScaleFrontendService.<Action>`) for
`ecs:service:DesiredCount` (to be written)."""

from __future__ import annotations

from dockyard.api.context import Handler
from dockyard.api.json_protocol import JsonService

HANDLERS: dict[str, Handler] = {}

APPLICATION_AUTOSCALING = JsonService(
    model_name="application-autoscaling", handlers=HANDLERS, validation_error="ValidationException"
)
