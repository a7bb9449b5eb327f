"""Migration 0019_outbox_batches: rows waiting in the outboxes become batches of one, and back."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from hubwire.store.engine import MIGRATIONS, sync_url

BEFORE = "0018_dashboard_live"
EVENT = dict(id="col_1", name="signup", distinct_id="u1", timestamp=1.8e9, properties={}, source="collect")


def alembic(engine: sa.Engine, action: str, revision: str) -> None:
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_waiting_events_become_batches_of_one_and_back(empty_db: str) -> None:
    engine = sa.create_engine(sync_url(empty_db))
    try:
        alembic(engine, "upgrade", BEFORE)
        event = json.dumps(EVENT)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO analytics_outbox (integration_id, destination, event_id, event, status, attempts,"
                    " created_at) VALUES ('int_1', 'posthog', 'col_1', :e, 'pending', 2, 1.0)"
                ),
                {"e": event},
            )
            conn.execute(
                sa.text("INSERT INTO lakehouse_outbox (event_id, event, created_at) VALUES ('col_1', :e, 1.0)"),
                {"e": event},
            )
        alembic(engine, "upgrade", "head")
        with engine.connect() as conn:
            forwarding = conn.execute(sa.text("SELECT events, count, attempts FROM analytics_outbox")).one()
            lakehouse = conn.execute(sa.text("SELECT events, count FROM lakehouse_outbox")).one()
        assert json.loads(forwarding.events) == [EVENT] and forwarding.count == 1 and forwarding.attempts == 2
        assert json.loads(lakehouse.events) == [EVENT] and lakehouse.count == 1

        # A batch of two goes back as two rows of one event each.
        two = json.dumps([EVENT, {**EVENT, "id": "col_2"}])
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE analytics_outbox SET events = :e, count = 2"), {"e": two})
        alembic(engine, "downgrade", BEFORE)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, event, attempts FROM analytics_outbox ORDER BY id")).all()
        assert [(r.event_id, json.loads(r.event)["id"], r.attempts) for r in rows] == [
            ("col_1", "col_1", 2),
            ("col_2", "col_2", 2),
        ]
    finally:
        engine.dispose()
