"""ECS capacity providers, and the provider each task was placed through.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "capacity_providers",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    # A nullable column: SQLite adds it in place (no table copy of every task).
    op.add_column("tasks", sa.Column("capacity_provider", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("capacity_provider")
    op.drop_table("capacity_providers")
