"""Operations tied to AWS's capacity: DescribeCapacityReservation,
ModifyCapacityReservation (load balancer capacity units) and ModifyIpPools (IPAM pools).

Dockyard's load balancers are one HAProxy on the server's own host: there is no
capacity to reserve and no IP pool to draw from. Each operation checks its load
balancer (LoadBalancerNotFound as ELB answers), then refuses with a message that says
so. The code is the closest the operation models: ModifyCapacityReservation models
OperationNotPermitted; the other two model only LoadBalancerNotFound, so they answer
the query protocol's generic ValidationError (tests/unit/test_elbv2_errors_modeled.py).
"""

from __future__ import annotations

from dockyard.api.elbv2.refs import get_load_balancer
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import ElbError, OperationNotPermitted, ValidationError


def _refuse(ctx: ApiContext, params: Params, what: str, error: type[ElbError]) -> Result:
    with ctx.store.read() as tx:
        get_load_balancer(tx, params["LoadBalancerArn"])
    raise error(
        f"{what} is tied to AWS capacity and not available on Dockyard: its load balancers "
        "run on the server's HAProxy, with no capacity units to reserve and no IP pools"
    )


def describe_capacity_reservation(ctx: ApiContext, params: Params) -> Result:
    return _refuse(ctx, params, "DescribeCapacityReservation", ValidationError)


def modify_capacity_reservation(ctx: ApiContext, params: Params) -> Result:
    return _refuse(ctx, params, "ModifyCapacityReservation", OperationNotPermitted)


def modify_ip_pools(ctx: ApiContext, params: Params) -> Result:
    return _refuse(ctx, params, "ModifyIpPools", ValidationError)
