"""ContinueServiceDeployment: continue or roll back a deployment paused at a lifecycle hook.

Dockyard's deployments have no lifecycle hooks (the model's `lifecycleHooks` of a
deployment configuration are not run), so no deployment is ever paused at one: an
unknown service deployment answers ServiceDeploymentNotFoundException, a known one
InvalidParameterException saying that it has no paused hook `hookId`. To stop a
deployment with a rollback, StopServiceDeployment does what ROLLBACK would.
"""

from __future__ import annotations

from dockyard.api.ecs.service_deployments import ServiceDeploymentNotFoundException
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException
from dockyard.store import Kind

ACTIONS = ("CONTINUE", "ROLLBACK")


def continue_service_deployment(ctx: ApiContext, params: Params) -> Result:
    arn = params["serviceDeploymentArn"]
    action = params.get("action", "CONTINUE")
    if action not in ACTIONS:
        raise InvalidParameterException(
            f"Invalid action '{action}'; valid values: {', '.join(ACTIONS)}."
        )
    with ctx.store.read() as tx:
        if tx.get(Kind.SERVICE_DEPLOYMENT, arn) is None:
            raise ServiceDeploymentNotFoundException("The service deployment does not exist.")
    raise InvalidParameterException(
        f"The service deployment is not paused at lifecycle hook '{params['hookId']}': "
        "Dockyard deployments have no lifecycle hooks. Use StopServiceDeployment to stop "
        "a deployment (stopType ROLLBACK rolls it back)."
    )
