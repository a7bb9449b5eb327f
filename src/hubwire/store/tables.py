"""The tables of Hubwire, in SQLAlchemy Core. One schema for SQLite and PostgreSQL.

Times that machines compare (run_at, leases, created_at) are epoch seconds as doubles: they
sort and compare the same way on both dialects. Documents are JSON (JSONB on PostgreSQL).
Migrations in ``store/migrations`` create exactly these tables; a test checks they agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "JSONDoc",
    "analytics_batches",
    "analytics_outbox",
    "api_keys",
    "conflicts",
    "credentials",
    "dashboard_sessions",
    "entities",
    "events",
    "external_refs",
    "jobs",
    "metadata",
    "sync_cursors",
    "sync_runs",
]

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")
metadata = sa.MetaData()

entities = sa.Table(
    "entities",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", JSONDoc, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_entities_type_created", "type", "created_at", "id"),
    sa.Index("ix_entities_type_updated", "type", "updated_at"),
)

events = sa.Table(
    "events",
    metadata,
    # The global, monotonic sequence. On PostgreSQL appends are serialised with a
    # transaction-level advisory lock so that sequence order is commit order.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("entity_type", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("data", JSONDoc, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_events_entity", "entity_id", "seq"),
    sa.Index("ix_events_type", "type", "seq"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", JSONDoc, nullable=False),
    # queued -> running -> done | queued (retry) | dead
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
    sa.Index(
        "ix_jobs_ready",
        "priority",
        "run_at",
        "id",
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
    sa.Index(
        "ix_jobs_leases",
        "lease_until",
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
    sa.Index("ix_jobs_status_kind", "status", "kind"),
    # At most one live job per key: a second enqueue with the same key is a no-op.
    sa.Index(
        "ux_jobs_live_key",
        "key",
        unique=True,
        sqlite_where=sa.text("key IS NOT NULL AND status IN ('queued', 'running')"),
        postgresql_where=sa.text("key IS NOT NULL AND status IN ('queued', 'running')"),
    ),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False, unique=True),
    # read | write | admin (hubwire.api.scopes); no default, so that no key is made admin by omission.
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double, nullable=True),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

# Connectors and sync (migration 0003_connectors) ---------------------------------------------

external_refs = sa.Table(
    "external_refs",
    metadata,
    # entity <-> provider object, per integration and resource, with what the last sync saw.
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("remote_id", sa.String(255), primary_key=True),
    sa.Column("entity_type", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("entity_version", sa.Integer, nullable=False),
    sa.Column("remote_updated", sa.Double, nullable=True),
    sa.Column("synced_at", sa.Double, nullable=False),
    sa.Index("ix_external_refs_entity", "entity_id"),
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("state", JSONDoc, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    # running -> succeeded | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("full", sa.Boolean, nullable=False),
    sa.Column("counts", JSONDoc, nullable=False),
    sa.Column("records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=True),
    sa.Column("duration", sa.Double, nullable=True),
    sa.Index("ix_sync_runs_integration", "integration_id", "started_at"),
    # No two runs of one integration at once.
    sa.Index(
        "ux_sync_runs_running",
        "integration_id",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("resource", sa.String(64), nullable=False),
    sa.Column("remote_id", sa.String(255), nullable=False),
    sa.Column("entity_type", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(32), nullable=False),
    sa.Column("winner", sa.String(16), nullable=False),  # remote | local
    sa.Column("local", JSONDoc, nullable=False),
    sa.Column("remote", JSONDoc, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_conflicts_integration", "integration_id", "created_at"),
)

# Outbound webhooks (migration 0002_webhooks). A delivery is one (event, endpoint) pair; its id is
# the stable ``webhook-id``. Statuses: pending -> succeeded | failed (retry scheduled) | dead.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("endpoint_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_seq", sa.BigInteger, nullable=True),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    sa.Index("ix_webhook_deliveries_event", "event_id"),
    sa.Index("ix_webhook_deliveries_status", "status", "updated_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("latency_ms", sa.Double, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("failing_since", sa.Double, nullable=True),
    sa.Column("last_success_at", sa.Double, nullable=True),
    sa.Column("last_failure_at", sa.Double, nullable=True),
)


# The dashboard (migration 0009_dashboard) ---------------------------------------------------

# A signed-in browser: ``id`` is the SHA-256 of the session cookie (the cookie itself is never
# stored), ``api_key_id`` the key it signed in with (NULL when the hub runs without
# authentication), ``csrf`` the token its forms carry.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("api_key_id", sa.String(64), nullable=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_dashboard_sessions_expires", "expires_at"),
)


# Analytics forwarding (migration 0013_analytics) ----------------------------------------------

# The outbox: one row per (event, analytics destination) still to forward, inserted in the
# transaction that committed the event (or accepted the collected one), deleted once sent.
# ``status``: pending (to send; ``attempts`` failed so far) or dead (refused by the destination,
# or its attempts spent), kept with ``last_error`` for the operator.
analytics_outbox = sa.Table(
    "analytics_outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(16), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # the normalised event, JSON
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_analytics_outbox_pending", "integration_id", "destination", "status", "id"),
)

# The delivery log: one row per request batch sent to a destination (succeeded, failed, dead).
analytics_batches = sa.Table(
    "analytics_batches",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(16), nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("latency_ms", sa.Double, nullable=True),
    sa.Index("ix_analytics_batches_integration", "integration_id", "destination", "started_at"),
)
