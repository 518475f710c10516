"""CreateService with a deploymentController other than ECS.

EXTERNAL: the service has no deployments of its own; an external deployer runs its
tasks through task sets (`api/ecs/task_sets.py`). As on ECS, CreateService then takes
only what is not set per task set: the task definition, load balancers, service
registries, launch type or capacity provider strategy, platform version and network
configuration are refused (InvalidParameterException) and given to CreateTaskSet.
CODE_DEPLOY: CodeDeploy is an AWS service Dockyard does not have; answered with
UnsupportedFeatureException that says to use EXTERNAL with one's own deployer.

`create_service` is the CreateService handler: ECS requests go on to
`services.create_service` unchanged.
"""

from __future__ import annotations

from dockyard.api.ecs import services
from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.service_refs import reuse_name
from dockyard.api.ecs.tags import check_tags
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException, UnsupportedFeatureException
from dockyard.services.task_sets import EXTERNAL

CONTROLLERS = ("ECS", "CODE_DEPLOY", EXTERNAL)
TASK_SET_LEVEL = (
    "taskDefinition",
    "loadBalancers",
    "serviceRegistries",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
)
CODE_DEPLOY = (
    "The CODE_DEPLOY deployment controller needs AWS CodeDeploy, which Dockyard does not "
    "have; use deploymentController type EXTERNAL and drive blue/green deployments with "
    "CreateTaskSet, UpdateTaskSet, UpdateServicePrimaryTaskSet and DeleteTaskSet."
)


def create_service(ctx: ApiContext, params: Params) -> Result:
    controller = (params.get("deploymentController") or {}).get("type", "ECS")
    if controller not in CONTROLLERS:
        raise InvalidParameterException(
            f"Invalid deploymentController type '{controller}'; valid values: "
            + ", ".join(CONTROLLERS)
            + "."
        )
    if controller == "ECS":
        return services.create_service(ctx, params)
    if controller == "CODE_DEPLOY":
        raise UnsupportedFeatureException(CODE_DEPLOY)
    return _create_external(ctx, params)


def _check(params: Params) -> int:
    name = params["serviceName"]
    if not services.NAME.match(name):
        raise InvalidParameterException(
            "Service name must be 1-255 letters, numbers, hyphens and underscores."
        )
    if params.get("schedulingStrategy", "REPLICA") != "REPLICA":
        raise InvalidParameterException(
            "The EXTERNAL deployment controller supports only the REPLICA scheduling strategy."
        )
    given = [field for field in TASK_SET_LEVEL if params.get(field)]
    if given:
        raise InvalidParameterException(
            f"{', '.join(given)} cannot be specified for a service with the EXTERNAL "
            "deployment controller: they are set per task set (CreateTaskSet)."
        )
    if "desiredCount" not in params:
        raise InvalidParameterException("desiredCount is required for REPLICA services.")
    desired = int(params["desiredCount"])
    if desired < 0:
        raise InvalidParameterException("desiredCount must be 0 or more.")
    services.check_placement(params, daemon=False)
    check_tags(params.get("tags", []))
    return desired


def _create_external(ctx: ApiContext, params: Params) -> Result:
    desired = _check(params)
    config = services.deployment_configuration(params, daemon=False)
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        claim = reuse_name(ctx, tx, cluster, params["serviceName"])
        service = services.new_service_doc(
            ctx, cluster, params, arn=claim.arn, desired=desired, config=config,
            controller=EXTERNAL, now=ctx.now(),
        )  # fmt: skip
        service["taskSets"] = []
        services.save_new_service(tx, service, existing=claim.existing)
        tx.put_tags(service["serviceArn"], params.get("tags", []))
        result = {"service": services.present(tx, service, set())}
    ctx.services_changed({service["serviceArn"]})
    return result
