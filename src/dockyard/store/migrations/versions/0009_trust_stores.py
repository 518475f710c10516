"""ELBv2 trust stores (mutual TLS): their documents; CA bundles and CRLs are files.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "trust_stores",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("doc", DOC, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_stores")
