"""Outbox rows hold batches: an analytics or lakehouse outbox row carries the events one
transaction queued (``events``, a JSON array; ``count``), not one event each.

A collect request of 20 events to three destinations was 60 forwarding rows and 20 lakehouse rows;
it is now three and one. Rows already waiting become batches of one.

Revision ID: 0019_outbox_batches
Revises: 0018_dashboard_live
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0019_outbox_batches"
down_revision = "0018_dashboard_live"
branch_labels = None
depends_on = None

TABLES = ("analytics_outbox", "lakehouse_outbox")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("event", new_column_name="events", existing_type=sa.Text, existing_nullable=False)
            batch.add_column(sa.Column("count", sa.Integer, nullable=False, server_default="1"))
            batch.drop_column("event_id")
        op.execute(f"UPDATE {table} SET events = '[' || events || ']'")


def downgrade() -> None:
    # Back to a row per event: each batch's events become rows of their own (ids renumbered).
    conn = op.get_bind()
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("event_id", sa.String(64), nullable=False, server_default=""))
        rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).mappings().all()
        conn.execute(sa.text(f"DELETE FROM {table}"))
        for row in rows:
            kept = {k: v for k, v in row.items() if k not in ("id", "count")}
            for event in json.loads(row["events"]):
                values = {**kept, "events": json.dumps(event), "event_id": event["id"]}
                columns = ", ".join(values)
                params = ", ".join(f":{k}" for k in values)
                conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("count")
            batch.alter_column("events", new_column_name="event", existing_type=sa.Text, existing_nullable=False)
