"""Service controller indexes: tasks.stopped_at (indexed STOPPED-task expiry) and a
(cluster, task_group, last_status, started_by, desired_status, stopped_at) index for
per-service reads and DescribeServices counts.

Revision ID: 0007
Revises: 0006
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("stopped_at", sa.Float, nullable=False, server_default="0"))
    op.create_index(
        "ix_tasks_group_status",
        "tasks",
        ["cluster", "task_group", "last_status", "started_by", "desired_status", "stopped_at"],
    )
    op.create_index("ix_tasks_stopped", "tasks", ["last_status", "stopped_at"])
    # Stamp the STOPPED tasks already there, from their documents.
    conn = op.get_bind()
    tasks = sa.table(
        "tasks", sa.column("arn", sa.String), sa.column("doc", sa.JSON), sa.column("stopped_at")
    )
    last = ""
    while True:
        rows = conn.execute(
            sa.select(tasks.c.arn, sa.type_coerce(tasks.c.doc, sa.Text))
            .where(sa.text("last_status = 'STOPPED'"), tasks.c.arn > last)
            .order_by(tasks.c.arn)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for arn, raw in rows:
            doc = json.loads(raw) if isinstance(raw, str) else raw
            stopped = float(doc.get("stoppedAt") or doc.get("executionStoppedAt") or 0)
            conn.execute(sa.update(tasks).where(tasks.c.arn == arn).values(stopped_at=stopped))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_tasks_stopped", table_name="tasks")
    op.drop_index("ix_tasks_group_status", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("stopped_at")
