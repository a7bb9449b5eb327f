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
    "analytics_payloads",
    "api_keys",
    "conflicts",
    "credentials",
    "dashboard_sessions",
    "entities",
    "events",
    "external_refs",
    "field_mapping_versions",
    "inbound_counts",
    "inbound_hooks",
    "jobs",
    "lakehouse_outbox",
    "metadata",
    "oauth_apps",
    "oauth_states",
    "push_outbox",
    "sync_cursors",
    "sync_runs",
    "sync_schedules",
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
    # Compared byte by byte on PostgreSQL too (0020_event_type_collation): a prefix is an index range.
    sa.Column("type", sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql"), nullable=False),
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
    # The mapped fields as last synced, unset ones as null (migration 0006_conflicts): the base of
    # the three-way merge. Null for a ref saved before it.
    sa.Column("base", JSONDoc, nullable=True),
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
    # The provider's pages stored so far (migration 0018_dashboard_live): a run's live progress.
    sa.Column("pages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=True),
    sa.Column("duration", sa.Double, nullable=True),
    # The scheduled tick this run serves (migration 0007_schedules); NULL for a run asked for by hand.
    sa.Column("tick", sa.Double, nullable=True),
    # Why a run held something back (the deletion guard), in words; NULL when it did all it found.
    sa.Column("summary", sa.Text, nullable=True),
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

# Per-integration sync schedules (migration 0007_schedules). A worker claims a due tick with a
# conditional UPDATE on ``revision`` and enqueues its sync job in the same transaction.
sync_schedules = sa.Table(
    "sync_schedules",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("frequency", sa.String(200), nullable=False),  # normalised (hubwire.sync.frequency)
    sa.Column("reconcile", sa.String(200), nullable=False),
    # NULL: not scheduled (manual, or the integration is not connected).
    sa.Column("next_run_at", sa.Double, nullable=True),
    sa.Column("next_reconcile_at", sa.Double, nullable=True),
    sa.Column("last_tick_at", sa.Double, nullable=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_sync_schedules_next_run", "next_run_at"),
    sa.Index("ix_sync_schedules_next_reconcile", "next_reconcile_at"),
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
    sa.Column("winner", sa.String(16), nullable=False),  # remote | local | mixed (per field: ``fields``)
    sa.Column("local", JSONDoc, nullable=False),
    sa.Column("remote", JSONDoc, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # The review queue (migration 0006_conflicts): open -> resolved, and the audit trail.
    sa.Column("status", sa.String(16), nullable=False),
    # {field: {"base", "local", "remote", "policy", "outcome": local | remote | value | null, "value"}}
    sa.Column("fields", JSONDoc, nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),  # an API key's name, or "system"
    sa.Column("resolved_at", sa.Double, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_conflicts_integration", "integration_id", "created_at"),
    sa.Index("ix_conflicts_status", "status", "created_at"),
    sa.Index("ix_conflicts_entity", "entity_id", "status"),
)

# The push outbox (migration 0010_outbox): one row per (integration, entity) Hubwire pushes.
push_outbox = sa.Table(
    "push_outbox",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True),
    sa.Column("noun", sa.String(64), nullable=False),
    # The latest local change: its verb, the entity's version and the event's seq (which orders
    # changes, a delete included, where the version does not move).
    sa.Column("verb", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("event_seq", sa.BigInteger, nullable=False),
    # The one job pushing this row's changes (NULL once all are pushed).
    sa.Column("job_id", sa.BigInteger, nullable=True),
    # The Noun fields the provider last accepted, and their version: the base of the next update.
    sa.Column("pushed", JSONDoc, nullable=True),
    sa.Column("pushed_version", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_push_outbox_job", "job_id"),
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

# OAuth 2.0 (migration 0008_oauth). An app's client secret and a state's PKCE verifier are
# encrypted (hubwire.vault); a state is stored by the SHA-256 of its value, never the value.
oauth_apps = sa.Table(
    "oauth_apps",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(512), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("scopes", JSONDoc, nullable=False),
    sa.Column("authorize_url", sa.Text, nullable=True),
    sa.Column("token_url", sa.Text, nullable=True),
    sa.Column("extra", JSONDoc, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    # Where the REST callback sends the browser once connected (the redirect_uri the caller gave).
    sa.Column("return_to", sa.Text, nullable=True),
    sa.Column("api_key_id", sa.String(64), nullable=True),
    sa.Column("integration_id", sa.String(64), nullable=True),
    sa.Column("scopes", JSONDoc, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_oauth_states_expires", "expires_at"),
)

# Inbound provider webhooks (migration 0005_inbound): the inbox. One row per verified request,
# stored before it is answered; ``event_id`` (the provider's) deduplicates per integration, and a
# NULL one (a scheme without ids) is never a duplicate. Statuses: received -> applied | ignored | failed.
inbound_hooks = sa.Table(
    "inbound_hooks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=True),
    sa.Column("event_type", sa.String(255), nullable=True),
    # Lower-case names; signature and authorization headers are never stored.
    sa.Column("headers", JSONDoc, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("applied_at", sa.Double, nullable=True),
    sa.UniqueConstraint("integration_id", "event_id", name="ux_inbound_hooks_event"),
    sa.Index("ix_inbound_hooks_received", "received_at", "id"),
    sa.Index("ix_inbound_hooks_integration", "integration_id", "received_at"),
    sa.Index("ix_inbound_hooks_status", "status", "received_at"),
)

# What the receiver answered, per integration and outcome (``received``, ``duplicate``, a refusal's
# code), summed: each process adds what it counted every few seconds (hubwire.inbound.ingest).
# Requests to no receiver are counted under the integration id "" (not per id: ids are unbounded).
inbound_counts = sa.Table(
    "inbound_counts",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.String(64), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Analytics forwarding (migration 0013_analytics) ----------------------------------------------

# The events of a transaction, stored once for every outbox row that forwards or keeps them
# (0021_shared_payloads): a JSON array of AnalyticsEvents. ``refs``: the outbox rows (of every
# destination and the lakehouse) that still hold it; the transaction that takes the last one away
# deletes it.
analytics_payloads = sa.Table(
    "analytics_payloads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("refs", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

# The outbox: one row per (transaction, analytics destination) with the events still to forward
# (0019_outbox_batches; the events themselves in the shared payload, 0021), inserted in the
# transaction that committed the events (or accepted the collected ones), deleted once sent. A
# destination sends those of the payload's events it accepts (Sentry: errors only); ``count``: how many.
# ``status``: pending (to send; ``attempts`` failed so far) or dead (refused by the destination,
# or its attempts spent), kept with ``last_error`` for the operator.
analytics_outbox = sa.Table(
    "analytics_outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("integration_id", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(16), nullable=False),
    sa.Column("payload_id", sa.String(32), nullable=False),  # analytics_payloads: the events
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),  # how many events
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

# The lakehouse feed: every collected and forwarded event, written in the transaction that commits
# it, until an append job has committed it to the Iceberg table. ``batch`` names the append that
# claimed it (null: not claimed yet), ``claimed_at`` when (a claim older than a lease is taken over).
lakehouse_outbox = sa.Table(
    "lakehouse_outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("payload_id", sa.String(32), nullable=False),  # analytics_payloads: the events
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),  # how many events
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("batch", sa.String(32), nullable=True),
    sa.Column("claimed_at", sa.Double, nullable=True),
    sa.Index("ix_lakehouse_outbox_batch", "batch", "id"),
)

# Field mappings (migration 0014_field_mappings): every saved version of an Integration's mappings,
# all its Nouns' in each; the newest is also in the Integration's config (what syncs read).
field_mapping_versions = sa.Table(
    "field_mapping_versions",
    metadata,
    sa.Column("integration_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("mappings", JSONDoc, nullable=False),  # {noun: [{remote, field, transform?, direction}]}
    sa.Column("saved_at", sa.Double, nullable=False),
    sa.Column("saved_by", sa.String(200), nullable=True),  # an API key's name; None: the connect (version 1)
)
