"""Forwarding to the simulated destinations, each in its own format, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubwire import Integration, ValidationError, Worker
from hubwire.analytics import (
    AnalyticsEvent,
    Payload,
    forwarding,
    list_batches,
    on_forward,
    pending_counts,
    record_collected,
)
from hubwire.analytics.destinations import events_of
from hubwire.analytics.forwarding import ForwardHook
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.simulators.ga4 import DEFAULT_API_SECRET, DEFAULT_MEASUREMENT_ID, GA4Simulator
from hubwire.simulators.mixpanel import MixpanelSimulator
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.posthog.server import DEFAULT_PROJECT_KEY
from hubwire.simulators.segment import SegmentSimulator
from hubwire.simulators.segment.server import DEFAULT_WRITE_KEY
from hubwire.simulators.sentry import SentrySimulator
from hubwire.store.statements import Writes
from hubwire.store.tables import analytics_outbox, analytics_payloads
from hubwire.vault.credentials import load_credentials
from tests.conftest import make_hub
from tests.fakes import FakeClock, deal_noun


async def drain(hub: Hub, clock: FakeClock, seconds: float = 5.0) -> None:
    """Let the flush window pass, then run every ready job."""
    clock.advance(seconds)
    await Worker(hub, concurrency=8).drain()


async def test_connect_stores_destinations_encrypted_and_checks_events(ahub: Hub) -> None:
    async with PostHogSimulator() as ph:
        got = await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
            events=["Deal.Closed"],
        )
        assert got["status"] == "Connected" and got["slug"] == "analytics-posthog"
        assert got["config"]["destinations"] == ["posthog"] and DEFAULT_PROJECT_KEY not in json.dumps(dict(got))
        creds = await load_credentials(ahub, got["$id"])
        assert creds["destinations"]["posthog"]["api_key"] == DEFAULT_PROJECT_KEY
        with pytest.raises(ValidationError) as err:
            await Integration.connect(
                provider="analytics", destinations={"posthog": {"api_key": "k", "host": ph.url}}, events=["Deal.Closd"]
            )
        assert "did you mean Deal.Closed" in err.value.message
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="analytics", destinations={"ga": {"measurement_id": "G-1"}, "nope": {}})
    fields = {e.field for e in err.value.errors}
    assert {"destinations.ga.api_secret", "destinations.nope"} <= fields
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="analytics", destinations={"sentry": {"dsn": "not a dsn"}})
    assert err.value.errors[0].field == "destinations.sentry.dsn"


async def test_ssrf_guard_checks_every_destination(hub: Hub) -> None:
    with pytest.raises(ValidationError) as err:
        await Integration.connect(
            provider="analytics", destinations={"posthog": {"api_key": "k", "host": "http://127.0.0.1:9/"}}
        )
    assert err.value.code in ("ssrf_blocked", "validation_error") and "destinations.posthog" in json.dumps(
        err.value.to_dict()
    )


async def test_each_destination_gets_its_own_format(ahub: Hub, clock: FakeClock) -> None:
    async with (
        GA4Simulator() as ga,
        PostHogSimulator() as ph,
        SentrySimulator() as sentry,
        MixpanelSimulator() as mp,
        SegmentSimulator() as seg,
    ):
        from hubwire.simulators.mixpanel.server import DEFAULT_API_SECRET as MP_SECRET

        await Integration.connect(
            provider="analytics",
            destinations={
                "ga": {"measurement_id": DEFAULT_MEASUREMENT_ID, "api_secret": DEFAULT_API_SECRET, "host": ga.url},
                "posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url},
                "sentry": {"dsn": sentry.dsn()},
                "mixpanel": {"api_secret": MP_SECRET, "host": mp.url},
                "segment": {"write_key": DEFAULT_WRITE_KEY, "host": seg.url},
            },
            events=["Deal.*", "Integration.Errored"],
        )
        Deal = deal_noun()
        deal = await Deal.create(name="Acme", value=500, stage="Open")
        await Deal.close(deal.id)
        await drain(ahub, clock)
        assert sorted(e.event for e in ph.events) == ["Deal.Closed", "Deal.Created"]
        assert {e.distinct_id for e in ph.events} == {deal.id}
        assert sorted(e.name for e in ga.events) == ["Deal_Closed", "Deal_Created"] and not ga.dropped
        assert {e.client_id for e in ga.events} == {deal.id}
        assert sorted(e.event for e in mp.events) == ["Deal.Closed", "Deal.Created"]
        assert sorted(m.event or "" for m in seg.messages) == ["Deal.Closed", "Deal.Created"]
        assert sentry.events() == []  # not error events
        batches = await list_batches(ahub)
        assert {b.destination for b in batches} == {"ga", "posthog", "mixpanel", "segment"}
        assert {b.status for b in batches} == {"succeeded"} and sum(b.events for b in batches) == 8
        assert await pending_counts(ahub) == {}


async def test_sentry_gets_error_events_as_envelopes(ahub: Hub, clock: FakeClock) -> None:
    from hubwire.events import emit, register

    register("Payment.Failed", schema={"type": "object", "properties": {"message": {"type": "string"}}})
    async with SentrySimulator() as sentry:
        await Integration.connect(
            provider="analytics", destinations={"sentry": {"dsn": sentry.dsn()}}, events=["Payment.*"]
        )
        await emit("Payment.Failed", {"message": "card declined"})
        await drain(ahub, clock)
        events = sentry.events()
        assert len(events) == 1 and events[0]["message"]["formatted"] == "card declined"
        assert events[0]["level"] == "error" and events[0]["tags"]["event"] == "Payment.Failed"


async def test_batches_by_size_and_retries_failures_without_loss(ahub: Hub, clock: FakeClock) -> None:
    async with PostHogSimulator() as ph:
        await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
            events=["Deal.Created"],
            batch_size=10,
        )
        Deal = deal_noun()
        for i in range(25):
            await Deal.create(name=f"d{i}", value=i, stage="Open")
        # Every request of both flush jobs (the window's and the full batch's, three batches each) fails.
        ph.fail_next(6, status=503)
        await drain(ahub, clock)
        assert len(ph.events) < 25  # the first request failed: retried later
        batches = await list_batches(ahub)
        assert any(b.status == "failed" and b.status_code == 503 for b in batches)
        assert (await pending_counts(ahub))["posthog"]["pending"] > 0
        for _ in range(6):
            await drain(ahub, clock, 700.0)
        assert sorted(e.properties["name"] for e in ph.events) == sorted(f"d{i}" for i in range(25))
        ok = [b for b in await list_batches(ahub) if b.status == "succeeded"]
        assert all(b.events <= 10 for b in ok) and sum(b.events for b in ok) == 25
        async with ahub.read() as conn:
            left = (await conn.execute(analytics_outbox.select())).all()
            stored = (await conn.execute(analytics_payloads.select())).all()
        assert left == [] and stored == []  # each payload deleted with the last row that held it


async def test_refused_batch_is_dead_with_the_reason(ahub: Hub, clock: FakeClock) -> None:
    async with PostHogSimulator() as ph:
        await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": "phc_wrong", "host": ph.url}},
            events=["Deal.Created"],
        )
        Deal = deal_noun()
        await Deal.create(name="x", value=1, stage="Open")
        await drain(ahub, clock)
        [batch] = await list_batches(ahub)
        assert batch.status == "dead" and batch.status_code == 401 and "phc_wrong" not in (batch.error or "")
        assert (await pending_counts(ahub))["posthog"] == {"pending": 0, "dead": 1}


async def test_an_update_of_the_events_is_checked_against_the_registry(ahub: Hub) -> None:
    async with PostHogSimulator() as ph:
        got = await Integration.connect(
            provider="analytics", destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}
        )
        config = dict(got["config"])
        with pytest.raises(ValidationError) as err:
            await Integration.update(got["$id"], config={**config, "events": ["Deal.Closd"]})
        assert err.value.errors[0].field == "config.events"
        updated = await Integration.update(got["$id"], config={**config, "events": ["Deal.*"]})
        assert updated["config"]["events"] == ["Deal.*"]


@pytest.fixture
def forward_hooks() -> Iterator[list[ForwardHook]]:
    """Hooks registered with on_forward by a test, unregistered after it."""
    before = list(forwarding._hooks)
    added: list[ForwardHook] = []
    yield added
    forwarding._hooks[:] = before


def collected(n: int, start: int = 0, name: str = "page_view") -> list[AnalyticsEvent]:
    return [AnalyticsEvent(f"col_{start + i}", name, "visitor", 1_765_000_000.0, {}, "collect") for i in range(n)]


async def test_concurrent_collects_commit_together_and_a_failure_reaches_each(
    ahub: Hub, forward_hooks: list[ForwardHook]
) -> None:
    committed: list[int] = []

    @on_forward
    def count(hub: Hub, writes: Writes, payload: Payload) -> None:
        if any(e.name == "poison" for e in payload.events):
            raise RuntimeError("the lakehouse refused")
        writes.after_commit.append(lambda: committed.append(len(payload.events)))

    forward_hooks.append(count)
    async with PostHogSimulator() as ph:
        await Integration.connect(
            provider="analytics", destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}
        )
        # Three requests at once: one transaction holds all their events; each hears its own count.
        got = await asyncio.gather(*(record_collected(ahub, collected(20, 20 * i)) for i in range(3)))
        assert got == [20, 20, 20] and committed == [60]
        assert (await pending_counts(ahub))["posthog"]["pending"] == 60
        # One bad request in a group: every request of it hears the error, and none of it is written.
        calls = [record_collected(ahub, collected(5, 100)), record_collected(ahub, collected(1, 200, "poison"))]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert [type(r) for r in results] == [RuntimeError, RuntimeError]
        assert (await pending_counts(ahub))["posthog"]["pending"] == 60
        assert await record_collected(ahub, collected(5, 300)) == 5 and committed == [60, 5]


async def test_a_failure_mid_flush_keeps_the_batches_after_it_pending(
    ahub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forwarding, "IN_FLIGHT", 1)  # one batch at a time: which one fails is known
    async with PostHogSimulator() as ph:
        made = await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
            batch_size=10,
        )
        events = [AnalyticsEvent(f"col_p{i:02d}", "view", "u", 1.8e9 + i, {"i": i}, "collect") for i in range(30)]
        for i in range(0, 30, 10):  # three transactions: three outbox rows of ten events
            await record_collected(ahub, events[i : i + 10])
        ph.fail_next(1, status=None)  # the first batch goes through
        ph.fail_next(1, status=503)  # the second fails: the flush stops, the third is not sent
        with pytest.raises(Exception):  # noqa: B017  (Retry or the backoff retry: either is a retry)
            await forwarding.flush(ahub, made.id, "posthog")
        assert sorted(e.properties["i"] for e in ph.events) == list(range(10))
        logged = sorted((b.status, b.events, b.status_code) for b in await list_batches(ahub))
        assert logged == [("failed", 10, 503), ("succeeded", 10, 200)]
        async with ahub.read() as conn:
            waiting = (
                sa.select(analytics_outbox.c.attempts, analytics_payloads.c.events)
                .join(analytics_payloads, analytics_payloads.c.id == analytics_outbox.c.payload_id)
                .order_by(analytics_outbox.c.id)
            )
            rows = (await conn.execute(waiting)).all()
        assert [[e.id for e in events_of(r.events)] for r in rows] == [
            [f"col_p{i:02d}" for i in range(10, 20)],
            [f"col_p{i:02d}" for i in range(20, 30)],
        ]
        assert [r.attempts for r in rows] == [1, 0]

        assert await forwarding.flush(ahub, made.id, "posthog") == 20
        assert sorted(e.properties["i"] for e in ph.events) == list(range(30))  # each once
        ok = [b for b in await list_batches(ahub) if b.status == "succeeded"]
        assert [b.events for b in ok] == [10, 10, 10]
        assert await pending_counts(ahub) == {}


async def test_another_process_s_connect_is_seen_within_the_ttl(
    ahub: Hub, db_url: str, tmp_path: Path, providers: ProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with PostHogSimulator() as ph:
        assert await record_collected(ahub, collected(2)) == 2  # no analytics Integration yet: queued nowhere
        async with make_hub(db_url, tmp_path, providers, allow_private_networks=True) as other:
            await Integration.connect(
                provider="analytics", destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}
            )
        assert other is not ahub
        ahub.activate()
        # This process read the Integrations less than FORWARDERS_TTL ago: it has not seen the connect yet.
        await record_collected(ahub, collected(3, 10))
        assert await pending_counts(ahub) == {}
        monkeypatch.setattr(forwarding, "FORWARDERS_TTL", 0.0)  # the TTL has passed
        await record_collected(ahub, collected(4, 20))
        assert (await pending_counts(ahub))["posthog"]["pending"] == 4


async def test_a_connect_in_this_process_takes_effect_at_once(ahub: Hub) -> None:
    async with PostHogSimulator() as ph:
        await record_collected(ahub, collected(2))  # the Integrations read: none
        made = await Integration.connect(
            provider="analytics", destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}}
        )
        await record_collected(ahub, collected(3, 10))
        assert (await pending_counts(ahub))["posthog"]["pending"] == 3
        await Integration.disconnect(made.id)
        await record_collected(ahub, collected(4, 20))
        assert (await pending_counts(ahub))["posthog"]["pending"] == 3


async def test_batches_in_flight_together_each_logged_and_a_failure_keeps_only_its_own(ahub: Hub) -> None:
    async with PostHogSimulator() as ph:
        made = await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
            batch_size=10,
        )
        events = [AnalyticsEvent(f"col_q{i:02d}", "view", "u", 1.8e9 + i, {"i": i}, "collect") for i in range(60)]
        for i in range(0, 60, 10):
            await record_collected(ahub, events[i : i + 10])
        ph.fail_next(1, status=503)  # one of the batches in flight fails; the others are sent and logged
        with pytest.raises(Exception):  # noqa: B017  (a retry)
            await forwarding.flush(ahub, made.id, "posthog")
        logged = [b.status for b in await list_batches(ahub)]
        assert logged.count("failed") == 1 and logged.count("succeeded") >= forwarding.IN_FLIGHT - 1
        assert (await pending_counts(ahub))["posthog"]["pending"] == 60 - 10 * logged.count("succeeded")
        assert await forwarding.flush(ahub, made.id, "posthog") == 60 - 10 * logged.count("succeeded")
        assert sorted(e.properties["i"] for e in ph.events) == list(range(60))  # each once
        assert await pending_counts(ahub) == {}


async def test_a_transactions_events_are_stored_once_and_deleted_with_the_last_row(ahub: Hub) -> None:
    from hubwire.lakehouse.feed import append_pending

    async with PostHogSimulator() as ph, SegmentSimulator() as seg, SentrySimulator() as sentry:
        made = await Integration.connect(
            provider="analytics",
            destinations={
                "posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url},
                "segment": {"write_key": DEFAULT_WRITE_KEY, "host": seg.url},
                "sentry": {"dsn": sentry.dsn()},
            },
        )
        await record_collected(ahub, [*collected(3), *collected(1, 3, name="error")])
        await record_collected(ahub, collected(2, 10))  # no error: nothing for Sentry
        async with ahub.read() as conn:
            stored = (await conn.execute(analytics_payloads.select().order_by(analytics_payloads.c.refs))).all()
            rows = (await conn.execute(analytics_outbox.select().order_by(analytics_outbox.c.id))).all()
        # Once per transaction, held by each destination that takes some of it and by the lakehouse.
        assert [(len(events_of(p.events)), p.refs) for p in stored] == [(2, 3), (4, 4)]
        assert [(r.destination, r.count) for r in rows] == [
            ("posthog", 4),
            ("segment", 4),
            ("sentry", 1),
            ("posthog", 2),
            ("segment", 2),
        ]
        # Every consumer at once (on PostgreSQL, their releases of one payload queue on its row lock).
        sent = await asyncio.gather(
            *(forwarding.flush(ahub, made.id, d) for d in ("posthog", "segment", "sentry")), append_pending(ahub)
        )
        assert sent == [6, 6, 1, 6]
        assert len(sentry.events()) == 1 and len(ph.events) == 6 and len(seg.messages) == 6
        async with ahub.read() as conn:
            assert (await conn.execute(analytics_payloads.select())).all() == []
            assert (await conn.execute(analytics_outbox.select())).all() == []
