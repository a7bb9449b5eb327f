"""Outbox migrations: 0019_outbox_batches (rows waiting become batches of one, and back) and
0021_shared_payloads (their events move to a payload each, and back); 0022_payload_lz4."""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from hubwire.store.engine import MIGRATIONS, sync_url

BEFORE = "0018_dashboard_live"
AFTER = "0019_outbox_batches"
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
        alembic(engine, "upgrade", AFTER)
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


def test_waiting_rows_get_a_payload_each_and_their_events_back(empty_db: str) -> None:
    engine = sa.create_engine(sync_url(empty_db))
    error = {**EVENT, "id": "col_2", "name": "error"}
    try:
        alembic(engine, "upgrade", "0020_event_type_collation")
        with engine.begin() as conn:
            for dest, events in (("posthog", [EVENT, error]), ("sentry", [error])):
                conn.execute(
                    sa.text(
                        "INSERT INTO analytics_outbox (integration_id, destination, events, count, status, attempts,"
                        " created_at) VALUES ('int_1', :d, :e, :n, 'pending', 1, 1.0)"
                    ),
                    {"d": dest, "e": json.dumps(events), "n": len(events)},
                )
            conn.execute(
                sa.text("INSERT INTO lakehouse_outbox (events, count, created_at) VALUES (:e, 2, 1.0)"),
                {"e": json.dumps([EVENT, error])},
            )
        alembic(engine, "upgrade", "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT destination, payload_id FROM analytics_outbox ORDER BY id")).all()
            lake = conn.execute(sa.text("SELECT payload_id FROM lakehouse_outbox")).scalar_one()
            stored = conn.execute(sa.text("SELECT id, events, refs FROM analytics_payloads")).all()
        payloads = {r.id: (json.loads(r.events), r.refs) for r in stored}
        assert [d for d, _ in rows] == ["posthog", "sentry"]
        assert payloads[rows[0].payload_id] == ([EVENT, error], 1) and payloads[rows[1].payload_id] == ([error], 1)
        assert payloads[lake] == ([EVENT, error], 1) and len(payloads) == 3

        # As rows written now are: Sentry's row shares the payload of every event, and takes the errors.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE analytics_outbox SET payload_id = :p"), {"p": rows[0].payload_id})
        alembic(engine, "downgrade", "0020_event_type_collation")
        with engine.connect() as conn:
            back = conn.execute(sa.text("SELECT destination, events FROM analytics_outbox ORDER BY id")).all()
            lake_back = conn.execute(sa.text("SELECT events FROM lakehouse_outbox")).scalar_one()
        assert [(d, [e["id"] for e in json.loads(ev)]) for d, ev in back] == [
            ("posthog", ["col_1", "col_2"]),
            ("sentry", ["col_2"]),
        ]
        assert [e["id"] for e in json.loads(lake_back)] == ["col_1", "col_2"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_payloads_are_compressed_with_lz4_where_postgresql_has_it(pg_url: str) -> None:
    """Migration 0022: a payload (a transaction's events, often hundreds of kilobytes) costs the
    server less CPU to store with LZ4 than with the default pglz."""
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        has_lz4 = conn.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        ).fetchone()
        method = conn.execute(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'analytics_payloads'::regclass AND attname = 'events'"
        ).fetchone()
        assert method == ("l" if has_lz4 else "",)
        if has_lz4:  # what it stores is read back whole
            events = json.dumps([{**EVENT, "id": f"col_{i}"} for i in range(2000)])
            conn.execute(
                "INSERT INTO analytics_payloads (id, events, refs, created_at) VALUES ('pl_lz4', %s, 1, 1.0)", (events,)
            )
            row = conn.execute(
                "SELECT events, pg_column_compression(events) FROM analytics_payloads WHERE id = 'pl_lz4'"
            ).fetchone()
            conn.rollback()
            assert row == (events, "lz4")
