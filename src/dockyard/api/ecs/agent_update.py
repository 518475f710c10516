"""UpdateContainerAgent: the ECS action. The agentUpdateStatus lifecycle it starts lives in
dockyard/instances/agent_update.py (shared with registration and the agent hub)."""

from __future__ import annotations

import logging

from dockyard.api import agent_package
from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.container_instances import present_instance
from dockyard.api.ecs.instance_refs import find_instance
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException
from dockyard.instances.agent_update import PRIVATE, check_update
from dockyard.store import Kind

log = logging.getLogger("dockyard.agent_update")


def update_container_agent(ctx: ApiContext, params: Params) -> Result:
    target, _hash = agent_package.server_version()
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        doc = find_instance(ctx, tx, cluster, params["containerInstance"])
        if doc is None or doc["status"] == "INACTIVE":
            raise InvalidParameterException("The referenced container instance was not found.")
        check_update(doc, target, ctx.now())
        doc["agentUpdateStatus"] = "PENDING"
        doc[PRIVATE] = {"targetVersion": target, "requestedAt": ctx.now()}
        tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc)
        result = {"containerInstance": present_instance(tx, doc, set())}
    log.info("agent update of %s to %s requested", doc["containerInstanceArn"], target)
    ctx.on_loop(ctx.on_agent_update, doc["containerInstanceArn"])  # the hub, on its loop
    return result
