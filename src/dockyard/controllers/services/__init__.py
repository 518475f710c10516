"""The service controller: keeps desiredCount tasks running and rolls out deployments.

    model.py      the data the pure reconcile reads and the Plan it returns
    reconcile.py  reconcile(service, deployments, tasks, instances, now) -> Plan  (pure)
    loop.py       reads the store, calls reconcile, applies the plan through the scheduler
"""
