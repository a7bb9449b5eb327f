"""The push outbox: per (integration, entity), the latest local change to push and what was pushed.

Revision ID: 0010_outbox
Revises: 0009_dashboard
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_outbox"
down_revision = "0009_dashboard"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "push_outbox",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("entity_id", sa.String(64), primary_key=True),
        sa.Column("noun", sa.String(64), nullable=False),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=True),
        sa.Column("pushed", JSONDoc, nullable=True),
        sa.Column("pushed_version", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_push_outbox_job", "push_outbox", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_push_outbox_job", table_name="push_outbox")
    op.drop_table("push_outbox")
