"""The feed: collected and forwarded events reach the Iceberg table in batches, each exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from hubwire import Integration, Worker, lakehouse
from hubwire.hub import Hub
from hubwire.lakehouse import feed
from hubwire.lakehouse import table as iceberg
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.posthog.server import DEFAULT_PROJECT_KEY
from hubwire.store.tables import lakehouse_outbox
from tests.fakes import FakeClock, deal_noun
from tests.lakehouse.conftest import BATCH, collect, events


def noon(clock: FakeClock) -> float:
    """Today's noon (UTC) by the clock: events a few minutes from it stay on one day."""
    day = dt.datetime.fromtimestamp(clock(), dt.UTC).date()
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()


def day(clock: FakeClock) -> str:
    return dt.datetime.fromtimestamp(noon(clock), dt.UTC).date().isoformat()


async def count(hub: Hub, sql: str) -> list[list[Any]]:
    return (await lakehouse.query(hub, sql)).rows


async def test_collected_and_forwarded_events_reach_the_table_in_batches(lhub: Hub, clock: FakeClock) -> None:
    deal = deal_noun()
    async with PostHogSimulator() as ph:
        await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": DEFAULT_PROJECT_KEY, "host": ph.url}},
            events=["Deal.*"],
        )
        for i in range(3):
            await deal.create(name=f"d{i}", value=i)
        await collect(lhub, events(40, start=noon(clock)))
        assert (await lakehouse.pending(lhub)).waiting == 43
        assert await lakehouse.stats(lhub) == {"rows": 0, "files": 0, "days": {}, "pending": 43}
        # Nothing is appended before the batch's age: the job is due 5 s after the first event.
        await Worker(lhub).drain()
        assert (await lakehouse.pending(lhub)).waiting == 43
        clock.advance(5)
        await Worker(lhub).drain()
        assert await lakehouse.stats(lhub) == {"rows": 43, "files": 1, "days": {day(clock): 1}, "pending": 0}
        # 120 more in three transactions: past 50 a batch goes at once. A batch holds whole
        # transactions' events, at most 50 unless one transaction alone brings more (3 files).
        for i in range(3):
            await collect(lhub, events(40, start=noon(clock) + 100 + i * 40))
        await Worker(lhub).drain()
    stats = await lakehouse.stats(lhub)
    assert stats == {"rows": 163, "files": 4, "days": {day(clock): 4}, "pending": 0}
    assert await count(lhub, "select event, count(*) from events group by 1 order by 1") == [
        ["Deal.Created", 3],
        ["page_view", 80],
        ["signup", 80],
    ]
    assert await count(lhub, "select source, count(*) from events group by 1 order by 1") == [
        ["collect", 160],
        ["noun", 3],
    ]
    first = await count(
        lhub,
        "select distinct_id, json_extract_string(properties, '$.plan'), timestamp from events "
        "where event = 'signup' order by timestamp limit 1",
    )
    assert first[0][:2] == ["user_1", "pro"]
    assert dt.datetime.fromisoformat(first[0][2]).timestamp() == noon(clock) + 1
    # The forwarding went on as before: the destination got the Deal events too.
    assert sorted(e.event for e in ph.events if e.event.startswith("Deal.")) == ["Deal.Created"] * 3


async def test_a_transaction_that_brings_a_full_batch_is_appended_at_once(lhub: Hub, clock: FakeClock) -> None:
    await collect(lhub, events(BATCH, start=noon(clock)))
    await Worker(lhub).drain()  # no clock advance: the full batch does not wait for its age
    assert (await lakehouse.stats(lhub))["rows"] == BATCH


async def test_events_left_by_a_finished_job_are_picked_up_by_the_periodic_tick(lhub: Hub, clock: FakeClock) -> None:
    await collect(lhub, events(3, start=noon(clock)))
    async with lhub.transaction() as tx:  # as if the append job had ended just as they arrived
        await tx.conn.execute(sa.text("DELETE FROM jobs"))
    clock.advance(5)
    assert await feed.reschedule(lhub) == 1
    await Worker(lhub).drain()
    assert (await lakehouse.stats(lhub))["rows"] == 3


class Crash(Exception):
    """A worker killed at this point."""


@pytest.mark.parametrize("when", ["after the Iceberg commit", "before the Iceberg commit"])
async def test_a_batch_its_appender_left_is_appended_exactly_once(
    lhub: Hub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    await collect(lhub, events(30, start=noon(clock)))
    real = feed._commit

    def crashing(*args: Any) -> bool:
        if when == "after the Iceberg commit":
            real(*args)
        raise Crash(when)

    monkeypatch.setattr(feed, "_commit", crashing)
    with pytest.raises(Crash):
        await lakehouse.append_pending(lhub)
    monkeypatch.setattr(feed, "_commit", real)
    left = await lakehouse.pending(lhub)
    assert (left.waiting, left.claimed) == (0, 30)
    committed = 30 if when == "after the Iceberg commit" else 0
    assert (await lakehouse.stats(lhub))["rows"] == committed
    # Within the lease the batch is still its (maybe only slow) appender's: left alone.
    assert await lakehouse.append_pending(lhub) == 0
    clock.advance(feed.LEASE + 1)
    assert await lakehouse.append_pending(lhub) == 30 - committed
    assert (await lakehouse.pending(lhub)).claimed == 0
    assert await count(lhub, "select count(*), count(distinct id) from events") == [[30, 30]]


async def test_a_commit_on_a_stale_view_of_the_table_fails_rather_than_lands(lhub: Hub, clock: FakeClock) -> None:
    """What keeps two appenders of one batch from both committing: no silent retry on a newer table."""
    rows = [iceberg.Row("e1", "x", noon(clock), "collect", None, None, noon(clock))]
    first, second = iceberg.open_table(lhub.settings), iceberg.open_table(lhub.settings)
    iceberg.append(first, "batch-1", rows)
    with pytest.raises(iceberg.CommitFailedException):
        iceberg.append(second, "batch-1", rows)
    second.refresh()
    assert iceberg.committed_batches(second, 0) == {"batch-1"} and iceberg.counts(second)["rows"] == 1


async def test_the_lakehouse_can_be_turned_off(db_url: str, tmp_path: Any, providers: Any) -> None:
    from tests.conftest import make_hub

    async with make_hub(db_url, tmp_path, providers, lakehouse=False) as hub:
        await collect(hub, events(5, start=1.8e9))
        async with hub.read() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(lakehouse_outbox))).scalar_one() == 0
