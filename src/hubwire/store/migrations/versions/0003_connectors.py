"""Connectors and sync: external refs, sync cursors, sync runs, conflicts.

Revision ID: 0003_connectors
Revises: 0002_webhooks
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_connectors"
down_revision = "0002_webhooks"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "external_refs",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("resource", sa.String(64), primary_key=True),
        sa.Column("remote_id", sa.String(255), primary_key=True),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("entity_version", sa.Integer, nullable=False),
        sa.Column("remote_updated", sa.Double, nullable=True),
        sa.Column("synced_at", sa.Double, nullable=False),
    )
    op.create_index("ix_external_refs_entity", "external_refs", ["entity_id"])

    op.create_table(
        "sync_cursors",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("resource", sa.String(64), primary_key=True),
        sa.Column("state", JSONDoc, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("full", sa.Boolean, nullable=False),
        sa.Column("counts", JSONDoc, nullable=False),
        sa.Column("records", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=True),
        sa.Column("duration", sa.Double, nullable=True),
    )
    op.create_index("ix_sync_runs_integration", "sync_runs", ["integration_id", "started_at"])
    op.create_index(
        "ux_sync_runs_running",
        "sync_runs",
        ["integration_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )

    op.create_table(
        "conflicts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("local", JSONDoc, nullable=False),
        sa.Column("remote", JSONDoc, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_conflicts_integration", "conflicts", ["integration_id", "created_at"])


def downgrade() -> None:
    op.drop_table("conflicts")
    op.drop_index("ux_sync_runs_running", "sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("sync_cursors")
    op.drop_table("external_refs")
