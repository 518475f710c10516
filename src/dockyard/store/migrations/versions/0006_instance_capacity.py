"""Capacity bookkeeping of container instances in its own table (issue 9).

Before: remainingResources, runningTasksCount, pendingTasksCount, taskGroups and
pendingDynamicPorts lived in each instance's AWS-shaped document, rewritten on every
task state change. After: one small `instance_capacity` row per instance; the API
composes the AWS fields from it. Existing documents are converted: their figures
move to the new table and the fields leave the document.

Revision ID: 0006
Revises: 0005
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

MOVED = ("remainingResources", "runningTasksCount", "pendingTasksCount", "taskGroups",
         "pendingDynamicPorts")  # fmt: skip


def _ports(resources: list[dict[str, Any]], name: str) -> set[int]:
    for resource in resources:
        if resource["name"] == name:
            return {int(p) for p in resource.get("stringSetValue", [])}
    return set()


def _number(resources: list[dict[str, Any]], name: str) -> int:
    for resource in resources:
        if resource["name"] == name:
            return int(resource.get("integerValue", 0))
    return 0


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    """The capacity row a pre-0006 document describes (self-contained: migrations must
    not change when the code does)."""
    registered = doc.get("registeredResources") or []
    remaining = doc.get("remainingResources") or registered
    pending = doc.get("pendingDynamicPorts") or {}
    groups = {g: int(n) for g, n in (doc.get("taskGroups") or {}).items() if int(n) > 0}
    return {
        "remaining_cpu": _number(remaining, "CPU"),
        "remaining_memory": _number(remaining, "MEMORY"),
        "running_count": int(doc.get("runningTasksCount", 0)),
        "pending_count": int(doc.get("pendingTasksCount", 0)),
        "doc": {
            "usedTcp": sorted(_ports(remaining, "PORTS") - _ports(registered, "PORTS")),
            "usedUdp": sorted(_ports(remaining, "PORTS_UDP") - _ports(registered, "PORTS_UDP")),
            "pendingTcp": int(pending.get("tcp", 0)),
            "pendingUdp": int(pending.get("udp", 0)),
            "taskGroups": dict(sorted(groups.items())),
        },
    }


def upgrade() -> None:
    capacity = op.create_table(
        "instance_capacity",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("cluster", sa.String(1600), nullable=False),
        sa.Column("remaining_cpu", sa.Integer, nullable=False),
        sa.Column("remaining_memory", sa.Integer, nullable=False),
        sa.Column("running_count", sa.Integer, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_instance_capacity_cluster", "instance_capacity", ["cluster"])
    conn = op.get_bind()
    instances = sa.table(
        "container_instances",
        sa.column("arn", sa.String),
        sa.column("cluster", sa.String),
        sa.column("doc", DOC),
    )
    for arn, cluster, raw in conn.execute(sa.select(instances)).all():
        doc = json.loads(raw) if isinstance(raw, str) else dict(raw)
        conn.execute(sa.insert(capacity).values(arn=arn, cluster=cluster, **_row(doc)))
        for field in MOVED:
            doc.pop(field, None)
        conn.execute(sa.update(instances).where(instances.c.arn == arn).values(doc=doc))


def downgrade() -> None:
    op.drop_index("ix_instance_capacity_cluster", "instance_capacity")
    op.drop_table("instance_capacity")
