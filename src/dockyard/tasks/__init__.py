"""Tasks on the control plane: placement into the store, resource accounting on
container instances, and applying what agents report.

    placement.py   RunTask/StartTask/services -> scheduler -> task documents
    accounting.py  remainingResources and task counts on instances, kept incrementally
    reports.py     agent state reports -> task documents (statuses only move forward)
    views.py       store documents -> the scheduler's InstanceView
"""
