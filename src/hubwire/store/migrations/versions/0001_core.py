"""Core: entities, events, jobs, credentials, api keys.

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_entities_type_created", "entities", ["type", "created_at", "id"])
    op.create_index("ix_entities_type_updated", "entities", ["type", "updated_at"])

    op.create_table(
        "events",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_events_entity", "events", ["entity_id", "seq"])
    op.create_index("ix_events_type", "events", ["type", "seq"])

    op.create_table(
        "jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_at", sa.Double, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    queued = sa.text("status = 'queued'")
    running = sa.text("status = 'running'")
    live_key = sa.text("key IS NOT NULL AND status IN ('queued', 'running')")
    op.create_index("ix_jobs_ready", "jobs", ["priority", "run_at", "id"], sqlite_where=queued, postgresql_where=queued)
    op.create_index("ix_jobs_leases", "jobs", ["lease_until"], sqlite_where=running, postgresql_where=running)
    op.create_index("ix_jobs_status_kind", "jobs", ["status", "kind"])
    op.create_index("ux_jobs_live_key", "jobs", ["key"], unique=True, sqlite_where=live_key, postgresql_where=live_key)

    op.create_table(
        "credentials",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.Column("revoked_at", sa.Double, nullable=True),
    )


def downgrade() -> None:
    for table in ("api_keys", "credentials", "jobs", "events", "entities"):
        op.drop_table(table)
