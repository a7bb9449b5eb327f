"""A transaction's events are stored once (``analytics_payloads``), however many outbox rows send
or keep them: each analytics and lakehouse outbox row holds a ``payload_id`` instead of its own copy.

A collect request of 20 events to three destinations wrote its events four times (three
destinations and the lakehouse); it now writes them once, with four small rows that refer to
them. Rows already waiting get a payload each (``refs`` 1).

Revision ID: 0021_shared_payloads
Revises: 0020_event_type_collation
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_shared_payloads"
down_revision = "0020_event_type_collation"
branch_labels = None
depends_on = None

# Each outbox, and the prefix of the payload ids its waiting rows get.
TABLES = {"analytics_outbox": "pl_o", "lakehouse_outbox": "pl_l"}


def upgrade() -> None:
    op.create_table(
        "analytics_payloads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("refs", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    for table, prefix in TABLES.items():
        op.add_column(table, sa.Column("payload_id", sa.String(32), nullable=True))
        op.execute(
            f"INSERT INTO analytics_payloads (id, events, refs, created_at) "
            f"SELECT '{prefix}' || CAST(id AS VARCHAR(20)), events, 1, created_at FROM {table}"
        )
        op.execute(f"UPDATE {table} SET payload_id = '{prefix}' || CAST(id AS VARCHAR(20))")
        with op.batch_alter_table(table) as batch:
            batch.alter_column("payload_id", existing_type=sa.String(32), nullable=False)
            batch.drop_column("events")


def downgrade() -> None:
    # Each row gets its own copy of its payload's events again: a Sentry row only the error events
    # (what it held before; the others are sent by the destinations that take them).
    from hubwire.analytics.destinations import events_json, events_of, is_error_event

    conn = op.get_bind()
    payloads = {r.id: r.events for r in conn.execute(sa.text("SELECT id, events FROM analytics_payloads"))}
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("events", sa.Text, nullable=False, server_default="[]"))
        sentry = "destination = 'sentry'" if table == "analytics_outbox" else "1 = 0"
        for row in conn.execute(sa.text(f"SELECT id, payload_id, {sentry} AS sentry FROM {table}")).all():
            events = payloads.get(row.payload_id, "[]")
            if row.sentry:
                events = events_json([e for e in events_of(events) if is_error_event(e)])
            conn.execute(sa.text(f"UPDATE {table} SET events = :e WHERE id = :id"), {"e": events, "id": row.id})
        with op.batch_alter_table(table) as batch:
            batch.alter_column("events", existing_type=sa.Text, server_default=None)
            batch.drop_column("payload_id")
    op.drop_table("analytics_payloads")
