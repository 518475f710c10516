"""Tasks.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("cluster", sa.String(1600), nullable=False),
        sa.Column("instance", sa.String(1600), nullable=True),
        sa.Column("family", sa.String(255), nullable=False),
        sa.Column("started_by", sa.String(128), nullable=True),
        sa.Column("task_group", sa.String(255), nullable=True),
        sa.Column("desired_status", sa.String(32), nullable=False),
        sa.Column("last_status", sa.String(32), nullable=False),
        sa.Column("reservation", sa.JSON, nullable=False),
        sa.Column("doc", sa.JSON, nullable=False),
    )
    op.create_index("ix_tasks_cluster_desired", "tasks", ["cluster", "desired_status"])
    op.create_index("ix_tasks_instance_last", "tasks", ["instance", "last_status"])


def downgrade() -> None:
    op.drop_table("tasks")
