"""Services; tasks indexed by group.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("cluster", sa.String(1600), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_services_cluster_status", "services", ["cluster", "status"])
    op.create_index("ix_tasks_cluster_group", "tasks", ["cluster", "task_group"])


def downgrade() -> None:
    op.drop_index("ix_tasks_cluster_group", "tasks")
    op.drop_table("services")
