"""The durable job queue on SQLite and PostgreSQL: enqueue, claim, retry, dead letters, leases, fencing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubwire import ConflictError, NotFoundError
from hubwire.hub import Hub
from hubwire.jobs import Backoff, Dead, Job, Retry, Worker, job_kind, list_jobs, queue, retry_dead, retry_job
from hubwire.store.tables import jobs
from tests.fakes import FakeClock


def unique_kind(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:8]}"


def recording_kind(ran: list[Job], **options: object) -> str:
    name = unique_kind("record")

    @job_kind(name, **options)  # type: ignore[arg-type]
    async def record(job: Job, hub: Hub) -> None:
        ran.append(job)

    return name


def failing_kind(calls: list[Job], error: BaseException | None = None, **options: object) -> str:
    name = unique_kind("fail")

    @job_kind(name, **options)  # type: ignore[arg-type]
    async def fail(job: Job, hub: Hub) -> None:
        calls.append(job)
        raise error or RuntimeError(f"boom on attempt {job.attempts}")

    return name


async def count_jobs(hub: Hub) -> int:
    async with hub.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one())


# enqueue and run --------------------------------------------------------------------------------


async def test_enqueued_in_a_transaction_is_claimed_then_done(hub: Hub) -> None:
    ran: list[Job] = []
    kind = recording_kind(ran)
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {"n": 1})
    assert job_id is not None
    assert (await queue.get_job(hub, job_id)).status == "queued"
    claimed = await queue.claim(hub, "w1", 10, lease=30.0)
    assert [(j.id, j.attempts, j.payload) for j in claimed] == [(job_id, 1, {"n": 1})]
    assert (await queue.get_job(hub, job_id)).status == "running"
    assert await queue.claim(hub, "w2", 10, lease=30.0) == []  # leased: nobody else gets it
    assert await queue.complete(hub, "w1", [(job_id, 1)]) == 1
    row = await queue.get_job(hub, job_id)
    assert row.status == "done" and row.attempts == 1

    async with hub.transaction() as tx:
        assert await queue.enqueue_many(tx, kind, [{"n": i} for i in range(2, 6)]) == 4
    assert await Worker(hub).drain() == 4
    assert sorted(j.payload["n"] for j in ran) == [2, 3, 4, 5]
    assert {r.status for r in await list_jobs(hub, kind=kind)} == {"done"}


async def test_a_rolled_back_transaction_leaves_no_job(hub: Hub) -> None:
    kind = recording_kind([])
    with pytest.raises(RuntimeError):
        async with hub.transaction() as tx:
            await queue.enqueue(tx, kind, {"n": 1})
            await queue.enqueue_many(tx, kind, [{"n": 2}, {"n": 3}])
            raise RuntimeError("abort")
    assert await count_jobs(hub) == 0
    assert await Worker(hub).drain() == 0


async def test_key_dedupes_live_jobs_only(hub: Hub) -> None:
    ran: list[Job] = []
    kind = recording_kind(ran)
    async with hub.transaction() as tx:
        first = await queue.enqueue(tx, kind, {"n": 1}, key="sync:a")
        second = await queue.enqueue(tx, kind, {"n": 2}, key="sync:a")
        other = await queue.enqueue(tx, kind, {"n": 3}, key="sync:b")
    assert first is not None and second is None and other is not None
    async with hub.transaction() as tx:  # still live (queued): a no-op in a later transaction too
        assert await queue.enqueue(tx, kind, {"n": 4}, key="sync:a") is None
    await queue.claim(hub, "w1", 10, lease=30.0)
    async with hub.transaction() as tx:  # running is live as well
        assert await queue.enqueue(tx, kind, {"n": 5}, key="sync:a") is None
    assert await queue.complete(hub, "w1", [(first, 1), (other, 1)]) == 2
    async with hub.transaction() as tx:  # done: a new one is allowed
        again = await queue.enqueue(tx, kind, {"n": 6}, key="sync:a")
    assert again is not None and again != first
    assert await count_jobs(hub) == 3


# retries, backoff, dead letters -----------------------------------------------------------------


async def test_retries_follow_the_backoff_within_its_jitter(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    calls: list[Job] = []
    backoff = Backoff(base=10.0, factor=3.0, jitter=0.2)
    kind = failing_kind(calls, max_attempts=3, backoff=backoff)
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert job_id is not None
    worker = Worker(hub)
    for attempt, base_delay in ((1, 10.0), (2, 30.0)):
        failed_at = clock()
        assert await worker.drain() == 1
        row = await queue.get_job(hub, job_id)
        assert row.status == "queued" and row.attempts == attempt
        assert row.last_error == f"RuntimeError: boom on attempt {attempt}"
        delay = row.run_at - failed_at
        assert base_delay * 0.8 <= delay <= base_delay * 1.2
        # Not before its time ...
        clock.advance(delay - 0.01)
        assert await worker.drain() == 0
        assert len(calls) == attempt
        clock.advance(0.02)  # ... and at it.
    assert await worker.drain() == 1
    row = await queue.get_job(hub, job_id)
    assert row.status == "dead" and row.attempts == 3 and len(calls) == 3
    assert [r.id for r in await list_jobs(hub, status="dead")] == [job_id]
    clock.advance(1000.0)
    assert await worker.drain() == 0  # dead stays dead


async def test_backoff_delays_are_bounded_by_the_jitter() -> None:
    import random

    rng = random.Random(7)
    b = Backoff(base=2.0, factor=2.0, max=20.0, jitter=0.25)
    for attempt, raw in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 20.0), (9, 20.0)):
        delays = [b.delay(attempt, rng) for _ in range(200)]
        assert all(raw * 0.75 <= d <= raw * 1.25 for d in delays)
        assert max(delays) - min(delays) > raw * 0.3  # jitter actually spreads them
    s = Backoff(schedule=(5.0, 60.0), jitter=0.0)
    assert [s.delay(a) for a in (1, 2, 3, 7)] == [5.0, 60.0, 60.0, 60.0]
    # A steep factor reaches the cap instead of overflowing the float (an endpoint's attempts go up to 100).
    steep = Backoff(base=1.0, factor=1e4, max=60.0, jitter=0.0)
    assert [steep.delay(a) for a in (1, 2, 100)] == [1.0, 60.0, 60.0]


async def test_retry_reschedules_at_now_plus_its_delay(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    calls: list[Job] = []
    kind = failing_kind(calls, error=Retry(42.5, "rate limited"), max_attempts=5, backoff=Backoff(base=1.0))
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert job_id is not None
    t0 = clock()
    assert await Worker(hub).drain() == 1
    row = await queue.get_job(hub, job_id)
    assert row.status == "queued" and row.run_at == pytest.approx(t0 + 42.5) and row.last_error == "rate limited"
    clock.advance(42.0)
    assert await Worker(hub).drain() == 0
    clock.advance(0.5)
    assert await Worker(hub).drain() == 1
    assert (await queue.get_job(hub, job_id)).attempts == 2


async def test_dead_dead_letters_at_once(clocked_hub: Hub) -> None:
    calls: list[Job] = []
    kind = failing_kind(calls, error=Dead("card declined for good"), max_attempts=10)
    async with clocked_hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert await Worker(clocked_hub).drain() == 1
    assert job_id is not None
    row = await queue.get_job(clocked_hub, job_id)
    assert (row.status, row.attempts, row.last_error) == ("dead", 1, "card declined for good")


async def test_dead_jobs_are_listed_and_replayed(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    healthy = {"ok": False}
    names = [unique_kind("flaky"), unique_kind("other")]
    ran: list[int] = []
    for name in names:

        @job_kind(name, max_attempts=1)
        async def flaky(job: Job, hub: Hub) -> None:
            if not healthy["ok"]:
                raise RuntimeError("provider down")
            ran.append(job.id)

    async with hub.transaction() as tx:
        early = await queue.enqueue(tx, names[0], {"n": 1})
    assert await Worker(hub).drain() == 1
    clock.advance(3600.0)
    since = clock()
    async with hub.transaction() as tx:
        late = await queue.enqueue(tx, names[0], {"n": 2})
        other = await queue.enqueue(tx, names[1], {"n": 3})
    assert await Worker(hub).drain() == 2
    dead = await list_jobs(hub, status="dead")
    assert sorted(r.id for r in dead) == sorted([early, late, other])  # type: ignore[type-var]
    assert all(r.last_error == "RuntimeError: provider down" for r in dead)
    assert dead[0].to_dict()["status"] == "dead"

    healthy["ok"] = True
    # Only dead jobs of that kind, dead-lettered since `since`.
    assert await retry_dead(hub, kind=names[0], since=since) == 1
    assert await Worker(hub).drain() == 1 and ran == [late]
    assert early is not None and other is not None
    row = await retry_job(hub, early)
    assert row.status == "queued" and row.attempts == 0
    with pytest.raises(ConflictError):
        await retry_job(hub, early)  # already live
    assert await retry_dead(hub) == 1  # the last one: `other`
    assert await Worker(hub).drain() == 2
    assert sorted(ran) == sorted([early, late, other])  # type: ignore[type-var]
    assert await list_jobs(hub, status="dead") == []


async def test_replaying_a_keyed_dead_job_respects_the_live_key(clocked_hub: Hub) -> None:
    hub = clocked_hub
    calls: list[Job] = []
    kind = failing_kind(calls, error=Dead("no"))
    async with hub.transaction() as tx:
        first = await queue.enqueue(tx, kind, {}, key="k")
    await Worker(hub).drain()
    async with hub.transaction() as tx:
        second = await queue.enqueue(tx, kind, {}, key="k")
    await Worker(hub).drain()
    async with hub.transaction() as tx:
        live = await queue.enqueue(tx, kind, {}, key="k")
    assert first and second and live
    assert await retry_dead(hub) == 0  # `live` holds the key
    with pytest.raises(ConflictError):
        await retry_job(hub, first)
    await Worker(hub).drain()  # `live` dies too: three dead with the same key
    assert await retry_dead(hub) == 1  # only the newest comes back
    assert [r.id for r in await list_jobs(hub, status="queued")] == [live]


# scheduling ---------------------------------------------------------------------------------------


async def test_scheduled_jobs_wait_for_their_time(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    kind = recording_kind(ran)
    async with hub.transaction() as tx:
        await queue.enqueue(tx, kind, {"at": "delay"}, delay=60.0)
        await queue.enqueue(tx, kind, {"at": "run_at"}, run_at=clock() + 120.0)
        await queue.enqueue_many(tx, kind, [{"at": "many"}], run_at=clock() + 180.0)
        await queue.enqueue(tx, kind, {"at": "now"})
    worker = Worker(hub)
    assert await worker.drain() == 1 and [j.payload["at"] for j in ran] == ["now"]
    clock.advance(59.9)
    assert await queue.claim(hub, "w", 10, lease=30.0) == []
    clock.advance(0.1)
    assert await worker.drain() == 1 and ran[-1].payload["at"] == "delay"
    clock.advance(60.0)
    assert await worker.drain() == 1 and ran[-1].payload["at"] == "run_at"
    clock.advance(60.0)
    assert await worker.drain() == 1 and ran[-1].payload["at"] == "many"


# leases and fencing -------------------------------------------------------------------------------


async def test_an_expired_lease_is_reaped_and_the_old_worker_is_fenced_out(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    kind = recording_kind(ran)
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
        spare = await queue.enqueue(tx, kind, {})
    assert job_id and spare
    [lost] = await queue.claim(hub, "worker-a", 1, lease=10.0)
    assert lost.id == job_id
    clock.advance(9.0)
    assert await queue.reap(hub) == 0  # still leased
    await queue.extend(hub, "worker-a", [job_id], lease=10.0)
    clock.advance(9.0)
    assert await queue.reap(hub) == 0  # the extension held
    clock.advance(1.5)
    assert await queue.reap(hub) == 1
    row = await queue.get_job(hub, job_id)
    assert row.status == "queued" and row.last_error == "lease expired: the worker stopped"
    assert await queue.complete(hub, "worker-a", [(job_id, 1)]) == 0  # reaped: no longer A's

    assert await Worker(hub, name="worker-b").drain() == 2
    assert sorted(j.id for j in ran) == sorted([job_id, spare])
    assert [j.attempts for j in ran if j.id == job_id] == [2]
    # The worker that lost the lease wakes up: neither its completion nor its failure counts.
    assert await queue.complete(hub, "worker-a", [(job_id, 1)]) == 0
    assert await queue.fail(hub, "worker-a", lost, "late failure", retry_in=5.0) == "lost"
    assert await queue.fail(hub, "worker-a", lost, "late failure", retry_in=None) == "lost"
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, "lease expired: the worker stopped")


async def test_same_worker_is_fenced_by_the_attempt(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    kind = recording_kind([])
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    [first] = await queue.claim(hub, "w", 1, lease=5.0)
    clock.advance(6.0)
    await queue.reap(hub)
    [second] = await queue.claim(hub, "w", 1, lease=5.0)
    assert (first.id, first.attempts, second.attempts) == (job_id, 1, 2)
    assert await queue.complete(hub, "w", [(first.id, 1)]) == 0
    assert (await queue.get_job(hub, first.id)).status == "running"
    assert await queue.complete(hub, "w", [(first.id, 2)]) == 1


@pytest.mark.parametrize("late_worker", ["worker-b", "worker-a"], ids=["same-worker", "other-worker"])
async def test_a_late_failure_of_an_earlier_attempt_leaves_the_running_attempt_alone(
    clocked_hub: Hub, clock: FakeClock, late_worker: str
) -> None:
    """Attempt 1 lost its lease; attempt 2 runs (on worker-b). Attempt 1's late ``fail``, from worker-b
    itself or from another worker, must neither requeue nor dead-letter the job under attempt 2."""
    hub = clocked_hub
    kind = recording_kind([], max_attempts=5)
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    [first] = await queue.claim(hub, late_worker, 1, lease=5.0)
    clock.advance(6.0)
    assert await queue.reap(hub) == 1
    [second] = await queue.claim(hub, "worker-b", 1, lease=30.0)
    assert (first.id, first.attempts, second.id, second.attempts) == (job_id, 1, job_id, 2)
    for retry_in in (5.0, None):  # a retryable failure and a dead-lettering one
        assert await queue.fail(hub, late_worker, first, "attempt 1 failed late", retry_in=retry_in) == "lost"
        row = await queue.get_job(hub, job_id)
        assert (row.status, row.attempts) == ("running", 2)
        assert row.last_error == "lease expired: the worker stopped"
        assert await queue.claim(hub, "worker-c", 1, lease=30.0) == []  # not queued again behind attempt 2
    assert await queue.complete(hub, "worker-b", [(job_id, 2)]) == 1  # attempt 2 still holds it


async def test_an_expired_lease_out_of_attempts_goes_dead(clocked_hub: Hub, clock: FakeClock) -> None:
    hub = clocked_hub
    kind = recording_kind([], max_attempts=1)
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    await queue.claim(hub, "w", 1, lease=5.0)
    clock.advance(6.0)
    assert await queue.reap(hub) == 1
    assert job_id is not None
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.last_error) == ("dead", "lease expired: the worker stopped")


async def test_claim_can_be_limited_to_kinds(hub: Hub) -> None:
    a, b = recording_kind([]), recording_kind([])
    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, a, [{}, {}])
        await queue.enqueue(tx, b, {})
    claimed = await queue.claim(hub, "w", 10, lease=30.0, kinds=[b])
    assert [j.kind for j in claimed] == [b]
    assert sorted(j.kind for j in await queue.claim(hub, "w", 10, lease=30.0)) == [a, a]


async def test_list_jobs_rejects_an_unknown_status(hub: Hub) -> None:
    from hubwire import ValidationError

    with pytest.raises(ValidationError):
        await list_jobs(hub, status="sleeping")


async def test_a_claim_carries_the_previous_batch_completions_fenced(hub: Hub) -> None:
    kind = recording_kind([])
    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": n} for n in range(3)])
    a, b = await queue.claim(hub, "w", 2, lease=30.0)
    # b's pair names the wrong attempt, and "other" does not hold a: neither completes.
    assert await queue.claim(hub, "other", 5, lease=30.0, done=[(a.id, 1)]) != []
    assert (await queue.get_job(hub, a.id)).status == "running"
    assert await queue.claim(hub, "w", 5, lease=30.0, done=[(a.id, 1), (b.id, 2)]) == []
    assert [(await queue.get_job(hub, j.id)).status for j in (a, b)] == ["done", "running"]


async def test_prune_deletes_old_done_jobs_and_keeps_dead_ones(clocked_hub: Hub, clock: FakeClock) -> None:
    ran: list[Job] = []
    ok = recording_kind(ran)
    dead = failing_kind([], Dead("no"))
    async with clocked_hub.transaction() as tx:
        await queue.enqueue(tx, ok, {"n": 1})
        await queue.enqueue(tx, dead, {"n": 2})
    await Worker(clocked_hub).drain()
    clock.advance(3600)
    async with clocked_hub.transaction() as tx:
        await queue.enqueue(tx, ok, {"n": 3})
    await Worker(clocked_hub).drain()
    assert await queue.prune(clocked_hub, older_than=1800) == 1  # only the first done job is old enough
    left = sorted((j.status, j.payload["n"]) for j in await list_jobs(clocked_hub))
    assert left == [("dead", 2), ("done", 3)]
    assert await queue.prune(clocked_hub, older_than=1800) == 0


async def test_sqlite_claims_read_the_ready_index_in_order(sqlite_url: str, tmp_path: Path) -> None:
    """The claim stops at LIMIT on ix_jobs_ready: no scan and sort of every queued job (which grew with the queue)."""
    from hubwire.jobs.queue import _SQLITE_CLAIM

    async with Hub(database_url=sqlite_url, data_dir=tmp_path, secret_key="k" * 32) as hub:
        async with hub.transaction() as tx:
            await queue.enqueue_many(tx, recording_kind([]), [{"n": n} for n in range(500)])
        for kinds, params in (("", (1.0, "w", 1.0, 1e12, 10)), (" AND kind IN (?)", (1.0, "w", 1.0, 1e12, "k", 10))):
            sql = "EXPLAIN QUERY PLAN " + _SQLITE_CLAIM.format(kinds=kinds)
            async with hub.read() as conn:
                plan = " | ".join(r[-1] for r in (await conn.exec_driver_sql(sql, params)).all())
            assert "USING INDEX ix_jobs_ready" in plan and "TEMP B-TREE" not in plan, plan


async def test_kinds_that_keep_no_done_rows_have_their_jobs_deleted_on_completion_fenced(hub: Hub) -> None:
    forgetful = recording_kind([], keep_done=False)
    kept = recording_kind([])
    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, forgetful, [{"n": n} for n in range(3)])
        await queue.enqueue(tx, kept, {"n": 9})
    a, b, c, k = await queue.claim(hub, "w", 10, lease=30.0)
    # Fenced like any completion: another worker, or the wrong attempt, deletes nothing.
    assert await queue.complete(hub, "other", [(a.id, 1)]) == 0
    assert await queue.complete(hub, "w", [(b.id, 2)]) == 0
    assert await queue.complete(hub, "w", [(a.id, 1), (k.id, 1)]) == 2
    await queue.claim(hub, "w", 10, lease=30.0, done=[(b.id, 1)])  # riding on a claim, too
    with pytest.raises(NotFoundError):
        await queue.get_job(hub, a.id)
    with pytest.raises(NotFoundError):
        await queue.get_job(hub, b.id)
    assert (await queue.get_job(hub, c.id)).status == "running"
    assert (await queue.get_job(hub, k.id)).status == "done"  # its kind keeps done rows
