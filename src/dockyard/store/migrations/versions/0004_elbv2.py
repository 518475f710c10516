"""ELBv2: load balancers, listeners, rules, target groups, targets.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "load_balancers",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "listeners",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("load_balancer", sa.String(1600), nullable=False, index=True),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "rules",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("listener", sa.String(1600), nullable=False, index=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "target_groups",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "targets",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("target_group", sa.String(1600), nullable=False, index=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )


def downgrade() -> None:
    for table in ("targets", "target_groups", "rules", "listeners", "load_balancers"):
        op.drop_table(table)
