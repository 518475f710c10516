"""Tasks on the control plane: placement into the store, resource accounting on
container instances, and applying what agents report.

    memory.py      ClusterMemory: each cluster's ClusterState, loaded once, kept in step
    placement.py   RunTask/StartTask/services -> scheduler (memory) -> task documents
    accounting.py  remaining resources and task counts on a node, kept incrementally
    capacity.py    the instance_capacity row; composes remainingResources / counts
    reports.py     agent state reports -> task documents (statuses only move forward)
    views.py       store documents (+ capacity) -> the scheduler's InstanceView
"""
