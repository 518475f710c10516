"""ECS operations that make no sense off AWS: answered with a clear error, not an
UnknownOperationException that reads like a Dockyard bug.

Each answers UnsupportedFeatureException where botocore's model lists it for the
operation, else ClientException, with "<Operation> is not available on Dockyard: <why>".
Only operations whose name the model has are registered (a newer botocore may add more;
an older one may lack some).
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.api.models import service_model
from dockyard.context import ApiContext, Handler, Params, Result
from dockyard.errors import AwsError

EXPRESS = (
    "Express services are AWS-managed infrastructure (load balancer, certificates, "
    "scaling) created for you on AWS; on Dockyard create a service with CreateService "
    "behind an ELBv2 load balancer (CreateLoadBalancer, CreateTargetGroup)."
)
GATEWAY = (
    "ECS gateways manage AWS ingress infrastructure for Express services; Dockyard's "
    "ingress is its ELBv2 API (load balancers, listeners and rules served by HAProxy)."
)
DAEMON = (
    "ECS daemons (daemon task definitions, deployments and revisions) are newer than "
    "Dockyard's ECS model; run one task on every instance with CreateService "
    "schedulingStrategy DAEMON."
)
CLOUD_MAP = "AWS Cloud Map namespaces do not exist off AWS; list services with ListServices."

REASONS: dict[str, str] = {
    **dict.fromkeys(
        (
            "CreateExpressGatewayService",
            "DescribeExpressGatewayService",
            "UpdateExpressGatewayService",
            "DeleteExpressGatewayService",
        ),
        EXPRESS,
    ),
    **dict.fromkeys(
        (
            "CreateGateway",
            "DescribeGateway",
            "UpdateGateway",
            "DeleteGateway",
            "ListGateways",
            "DescribeGatewayResources",
            "DescribeGatewayRoute",
            "ListGatewayRoutes",
            "AssociateGatewayWithCluster",
            "DisassociateGatewayFromCluster",
            "ListGatewayClusterAssociations",
        ),
        GATEWAY,
    ),
    **dict.fromkeys(
        (
            "CreateDaemon",
            "DescribeDaemon",
            "UpdateDaemon",
            "DeleteDaemon",
            "ListDaemons",
            "DescribeDaemonDeployments",
            "ListDaemonDeployments",
            "DescribeDaemonRevisions",
            "RegisterDaemonTaskDefinition",
            "DescribeDaemonTaskDefinition",
            "ListDaemonTaskDefinitions",
            "DeleteDaemonTaskDefinition",
        ),
        DAEMON,
    ),
    "ListServicesByNamespace": CLOUD_MAP,
}


def _refuse(operation: str, code: str, why: str) -> Handler:
    def handler(_ctx: ApiContext, _params: Params) -> Result:
        raise AwsError(f"{operation} is not available on Dockyard: {why}", code=code)

    return handler


def handlers(model_name: str = "ecs") -> dict[str, Callable[[ApiContext, Params], Result]]:
    """A refusing handler for each operation of REASONS that the model has."""
    model = service_model(model_name)
    table: dict[str, Handler] = {}
    for operation, why in REASONS.items():
        if operation not in model.operation_names:
            continue
        errors = {e.name for e in model.operation_model(operation).error_shapes}
        code = (
            "UnsupportedFeatureException"
            if "UnsupportedFeatureException" in errors
            else "ClientException"
        )
        table[operation] = _refuse(operation, code, why)
    return table
