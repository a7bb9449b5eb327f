"""The attempt recorder's batches: written at the same time by several workers, or refused by the database."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from hubwire import Integration, Worker
from hubwire.hub import Hub
from hubwire.jobs import list_jobs
from hubwire.store.tables import webhook_attempts, webhook_endpoints
from hubwire.webhooks import list_attempts, list_deliveries
from hubwire.webhooks.delivery import DELIVER_JOB, AttemptRecorder, Outcome
from tests.fakes import FakeClock, RefusedWrites, deal_noun
from tests.webhooks.conftest import Receiver


async def test_concurrent_batches_over_the_same_endpoints_all_commit(whub: Hub) -> None:
    """Two workers' batches touch the same endpoints in opposite orders: neither may deadlock."""
    endpoints = [f"int_ep{i:02d}" for i in range(20)]
    recorders = [AttemptRecorder(whub), AttemptRecorder(whub)]

    def batch(n: int, order: list[str]) -> list[Outcome]:
        return [Outcome(f"msg_{n}_{eid}", eid, 1, 1000.0 + n, 1.0, 200, "ok", None, "succeeded") for eid in order]

    for rnd in range(40):
        await asyncio.gather(
            recorders[0]._flush(batch(2 * rnd, endpoints)),
            recorders[1]._flush(batch(2 * rnd + 1, endpoints[::-1])),
        )
    async with whub.read() as conn:
        attempts = (await conn.execute(sa.select(sa.func.count()).select_from(webhook_attempts))).scalar()
        healthy = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(webhook_endpoints)
                .where(webhook_endpoints.c.failing_since.is_(None), webhook_endpoints.c.last_success_at.is_not(None))
            )
        ).scalar()
    assert attempts == 40 * 2 * 20 and healthy == 20


async def test_a_batch_over_many_endpoints_records_every_attempt_and_each_endpoints_health(whub: Hub) -> None:
    """More endpoints than one health upsert takes (SQLite chunks it): every endpoint's run of failures."""
    endpoints = [f"int_many{i:03d}" for i in range(450)]
    rec = AttemptRecorder(whub)

    def outcome(eid: str, at: float, ok: bool) -> Outcome:
        status, code = ("succeeded", 200) if ok else ("failed", 500)
        return Outcome(f"msg_{eid}_{at:g}", eid, 1, at, 1.0, code, "x", None if ok else "HTTP 500", status, None)

    # Odd endpoints fail at 10 and again at 20 (the run starts at 10); even ones fail then succeed.
    first = await rec._flush([outcome(eid, 10.0, False) for eid in endpoints])
    assert first == {eid: 10.0 for eid in endpoints}
    second = await rec._flush([outcome(eid, 20.0, i % 2 == 0) for i, eid in enumerate(endpoints)])
    assert second == {eid: (None if i % 2 == 0 else 10.0) for i, eid in enumerate(endpoints)}
    async with whub.read() as conn:
        attempts = (await conn.execute(sa.select(sa.func.count()).select_from(webhook_attempts))).scalar()
        rows = {r[0]: r[1:] for r in (await conn.execute(sa.select(webhook_endpoints))).all()}
    assert attempts == 2 * len(endpoints)
    assert rows["int_many000"] == (None, 20.0, 10.0)  # failing_since, last_success_at, last_failure_at
    assert rows["int_many001"] == (10.0, None, 20.0)


async def test_a_refused_batch_fails_each_of_its_attempts_and_their_jobs_are_retried(
    whub: Hub, receiver: Receiver, clock: FakeClock
) -> None:
    """The database refuses the attempts log: every delivery of the batch fails (none hangs waiting for
    its record), its job is retried on the kind's backoff, and the next attempt is recorded."""
    ep = await Integration.connect(
        provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], schedule=[60.0], max_attempts=5
    )
    Deal = deal_noun()
    await Deal.create(name="A")
    await Deal.create(name="B")
    refused = RefusedWrites(whub)
    await refused.refuse("webhook_attempts", op="INSERT")
    try:
        assert await Worker(whub, concurrency=4).drain(timeout=20) == 2
    finally:
        await refused.allow()
    jobs = await list_jobs(whub, kind=DELIVER_JOB)
    assert [(j.status, j.attempts) for j in jobs] == [("queued", 1)] * 2
    assert all(RefusedWrites.MESSAGE in (j.last_error or "") for j in jobs)
    deliveries = await list_deliveries(whub, endpoint_id=ep.id)
    assert [(d.status, d.attempts) for d in deliveries] == [("pending", 0)] * 2  # nothing was recorded
    assert len(receiver.on("/fail")) == 2  # though both were sent

    clock.advance(max(j.run_at for j in jobs) - clock.now)
    assert await Worker(whub, concurrency=4).drain(timeout=20) == 2
    deliveries = await list_deliveries(whub, endpoint_id=ep.id)
    assert [(d.status, d.attempts) for d in deliveries] == [("failed", 2)] * 2
    for d in deliveries:
        assert [a.attempt for a in await list_attempts(whub, d.id)] == [2]
        assert d.next_attempt_at is not None and 48.0 <= d.next_attempt_at - clock.now <= 72.0
