"""TLS material in the store, so that any leader can write HAProxy's files: ACM private
keys (certificate_keys) and trust-store CA bundles and CRLs (trust_store_contents).

Schema only. Keys and bundles written as files under a server's `<data-dir>/certs` before
this revision are copied in when that server starts (`dockyard.lb.legacy_tls`): a migration
does not know the data dir, and with several servers each one holds its own files.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "certificate_keys",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "trust_store_contents",
        sa.Column("arn", sa.String(1700), primary_key=True),
        sa.Column("trust_store", sa.String(1600), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_trust_store_contents_trust_store", "trust_store_contents", ["trust_store"])


def downgrade() -> None:
    op.drop_index("ix_trust_store_contents_trust_store", table_name="trust_store_contents")
    op.drop_table("trust_store_contents")
    op.drop_table("certificate_keys")
