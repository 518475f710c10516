"""The console's only way into Dockyard: the API's own action handlers.

Every page reads and every button writes through the handler table the AWS
wire protocols dispatch to, with the same botocore validation, so the console
can do nothing the aws CLI could not, and sees exactly what it would see.
Pages run them as the gateway does: in the store's thread pool when the store blocks.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.json_protocol import JsonService
from dockyard.api.models import service_model, validate
from dockyard.api.query_protocol import QueryService
from dockyard.context import ApiContext
from dockyard.errors import ProtocolError

Service = JsonService | QueryService


class Api:
    """`api.ecs("ListTasks", cluster=...)`: one action, validated like a wire request."""

    def __init__(self, ctx: ApiContext) -> None:
        from dockyard.api.cloudwatch import CLOUDWATCH
        from dockyard.api.ecs import ECS
        from dockyard.api.elbv2 import ELBV2

        self.ctx = ctx
        self._ecs: Service = ECS
        self._elbv2: Service = ELBV2
        self._cloudwatch: Service = CLOUDWATCH

    def call(self, service: Service, action: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = service.handlers.get(action)
        if handler is None:
            raise ProtocolError(
                f"Operation {action} is not supported by this server.",
                code="UnknownOperationException",
            )
        model = service_model(service.model_name)
        validate(model.operation_model(action), params, service.validation_error)
        return handler(self.ctx, params)

    def ecs(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call(self._ecs, action, _present(params))

    def elbv2(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call(self._elbv2, action, _present(params))

    def cloudwatch(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call(self._cloudwatch, action, _present(params))


def _present(params: dict[str, Any]) -> dict[str, Any]:
    """Drop parameters left as None, as a client omits an unset option."""
    return {key: value for key, value in params.items() if value is not None}
