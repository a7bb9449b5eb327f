"""Delivery history retention: finished deliveries, their attempts and dead jobs go; live ones stay."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from hubwire import Integration, NotFoundError, Worker
from hubwire.hub import Hub
from hubwire.jobs import list_jobs
from hubwire.store.tables import webhook_attempts
from hubwire.webhooks import attempts, get_delivery, list_attempts, list_deliveries, prune
from hubwire.webhooks.delivery import DELIVER_JOB
from tests.fakes import FakeClock, deal_noun
from tests.webhooks.conftest import Receiver

DAY = 86400.0


async def attempt_rows(hub: Hub) -> dict[str, int]:
    """Attempts in the log per delivery id, read from the table itself."""
    a = webhook_attempts.c
    async with hub.read() as conn:
        rows = (await conn.execute(sa.select(a.delivery_id, sa.func.count()).group_by(a.delivery_id))).all()
    return {r[0]: r[1] for r in rows}


async def test_prune_keeps_live_deliveries_and_drops_finished_ones(
    whub: Hub, receiver: Receiver, clock: FakeClock
) -> None:
    assert whub.settings.webhook_retention_days == 30
    ok = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    dead = await Integration.connect(provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], max_attempts=1)
    retrying = await Integration.connect(provider="webhook", url=receiver.url("/fail"), events=["Deal.*"])
    Deal = deal_noun()
    await Deal.create(name="old")
    await Worker(whub, concurrency=8).drain()
    [old_ok] = await list_deliveries(whub, endpoint_id=ok.id)
    [old_dead] = await list_deliveries(whub, endpoint_id=dead.id)
    [old_retry] = await list_deliveries(whub, endpoint_id=retrying.id)
    assert (old_ok.status, old_dead.status, old_retry.status) == ("succeeded", "dead", "failed")
    assert await attempt_rows(whub) == {old_ok.id: 1, old_dead.id: 1, old_retry.id: 1}
    assert [j.status for j in await list_jobs(whub, kind=DELIVER_JOB, status="dead")] == ["dead"]

    clock.advance(29 * DAY)
    assert await prune(whub) == 0  # within the retention

    clock.advance(2 * DAY)
    assert await prune(whub) == 2
    for gone in (old_ok, old_dead):
        with pytest.raises(NotFoundError):
            await get_delivery(whub, gone.id)
    assert await attempt_rows(whub) == {old_retry.id: 1}
    # The dead job held a copy of the body: gone too. The retry, however old, is kept whole.
    assert await list_jobs(whub, kind=DELIVER_JOB, status="dead") == []
    kept = await get_delivery(whub, old_retry.id)
    assert kept.status == "failed" and len(await list_attempts(whub, old_retry.id)) == 1
    assert [j.status for j in await list_jobs(whub, kind=DELIVER_JOB)] == ["queued"]

    # Retention 0 keeps everything.
    await Deal.create(name="new")
    await Worker(whub, concurrency=8).drain()
    clock.advance(365 * DAY)
    before = await list_deliveries(whub, limit=100)
    assert await prune(whub, older_than=0) == 0
    assert await list_deliveries(whub, limit=100) == before


async def test_prune_goes_in_chunks(
    whub: Hub, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    Deal = deal_noun()
    for i in range(5):
        await Deal.create(name=f"d{i}")
    await Worker(whub, concurrency=8).drain()
    monkeypatch.setattr(attempts, "_PRUNE_CHUNK", 2)
    clock.advance(31 * DAY)
    assert await prune(whub) == 5
    assert await list_deliveries(whub, limit=100) == []


async def test_a_running_worker_prunes_the_history(whub: Hub, receiver: Receiver, clock: FakeClock) -> None:
    ok = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    await deal_noun().create(name="old")
    await Worker(whub, concurrency=8).drain()
    assert len(await list_deliveries(whub, endpoint_id=ok.id)) == 1
    clock.advance(31 * DAY)
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(whub, concurrency=8, lease=0.3).run(stop))
    try:
        for _ in range(100):  # its upkeep runs a lease-third after it starts
            if not await list_deliveries(whub, endpoint_id=ok.id):
                break
            await asyncio.sleep(0.05)
        assert await list_deliveries(whub, endpoint_id=ok.id) == []
    finally:
        stop.set()
        await running


async def test_a_failing_upkeep_does_not_stop_the_worker(whub: Hub) -> None:
    calls: list[str] = []

    async def broken(hub: Hub) -> int:
        calls.append("broken")
        raise RuntimeError("disk full")

    async def fine(hub: Hub) -> int:
        calls.append("fine")
        return 0

    whub.maintenance[:0] = [broken, fine]
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(whub, concurrency=2, lease=0.3).run(stop))
    try:
        for _ in range(100):
            if "fine" in calls:
                break
            await asyncio.sleep(0.05)
        assert calls[:2] == ["broken", "fine"]
        assert not running.done()
    finally:
        stop.set()
        await running
