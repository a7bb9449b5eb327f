"""Inbound provider webhooks: the inbox of verified requests, deduplicated by the provider's event id,
and the receiver's counts per integration and outcome.

Revision ID: 0005_inbound
Revises: 0008_oauth
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_inbound"
down_revision = "0008_oauth"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbound_hooks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("event_type", sa.String(255), nullable=True),
        sa.Column("headers", JSONDoc, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("applied_at", sa.Double, nullable=True),
        # NULL event ids never collide (SQLite and PostgreSQL alike): a scheme without ids is not deduplicated.
        sa.UniqueConstraint("integration_id", "event_id", name="ux_inbound_hooks_event"),
    )
    op.create_index("ix_inbound_hooks_received", "inbound_hooks", ["received_at", "id"])
    op.create_index("ix_inbound_hooks_integration", "inbound_hooks", ["integration_id", "received_at"])
    op.create_index("ix_inbound_hooks_status", "inbound_hooks", ["status", "received_at"])
    op.create_table(
        "inbound_counts",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbound_counts")
    op.drop_table("inbound_hooks")
