"""The worker when the database refuses its writes (SQLite and PostgreSQL): it survives, says so in
its log, and what it could not record is taken over (a lease expires) or sent again (a completion)."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from hubwire.hub import Hub
from hubwire.jobs import Job, Worker, job_kind, queue
from tests.fakes import FakeClock, RefusedWrites

Logs = list[dict[str, object]]


def logged(logs: Logs, name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == name]


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    """Wait for a condition (a generous bound: only a broken guard ever reaches it)."""
    deadline = time.monotonic() + timeout
    while True:
        res = check()
        if await res if inspect.isawaitable(res) else res:
            return
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.02)


async def enqueue_one(hub: Hub, kind: str) -> int:
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert job_id is not None
    return job_id


def recording_kind(ran: list[Job], fail_first: bool = False, gate: asyncio.Event | None = None) -> str:
    name = f"test.dbfail.{uuid.uuid4().hex[:8]}"

    @job_kind(name, max_attempts=5)
    async def record(job: Job, hub: Hub) -> None:
        ran.append(job)
        if gate is not None:
            await gate.wait()
        if fail_first and job.attempts == 1:
            raise RuntimeError("boom")

    return name


async def test_a_refused_failure_record_is_logged_and_the_job_taken_over(
    clocked_hub: Hub, clock: FakeClock, refused: RefusedWrites
) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    job_id = await enqueue_one(hub, recording_kind(ran, fail_first=True))
    # Only the failure record of attempt 1 is refused.
    await refused.refuse("jobs", when="NEW.last_error = 'RuntimeError: boom'")
    with structlog.testing.capture_logs() as logs:
        assert await Worker(hub, name="a", lease=10.0).drain() == 1
    [entry] = logged(logs, "worker.record_failure_failed")
    assert entry["job_id"] == job_id and RefusedWrites.MESSAGE in str(entry["error"])
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts) == ("running", 1)  # still leased to the worker that could not say

    clock.advance(11.0)  # the lease expires: the next worker takes the job over
    assert await Worker(hub, name="b", lease=10.0).drain() == 1
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts, [j.attempts for j in ran]) == ("done", 2, [1, 2])


async def test_a_refused_completion_is_kept_and_sent_again_with_the_next_claim(
    clocked_hub: Hub, refused: RefusedWrites
) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    await refused.refuse("jobs", when="NEW.status = 'done'")
    job_id = await enqueue_one(hub, recording_kind(ran))
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(Worker(hub, name="a", poll_interval=0.05).run(stop))
        try:
            # The claim carrying the completion fails, and again on each try while the database refuses.
            await until(lambda: len(logged(logs, "worker.claim_failed")) >= 2, "refused claims")
            assert (await queue.get_job(hub, job_id)).status == "running"
            await refused.allow()
            await until(lambda: job_status(hub, job_id, "done"), "the completion, once the database accepts it")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts, len(ran)) == ("done", 1, 1)  # completed, not run again


async def test_a_refused_last_flush_is_logged_and_the_job_taken_over(
    clocked_hub: Hub, clock: FakeClock, refused: RefusedWrites
) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    gate = asyncio.Event()
    job_id = await enqueue_one(hub, recording_kind(ran, gate=gate))
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(Worker(hub, name="a", lease=10.0, poll_interval=0.05).run(stop))
        await until(lambda: len(ran) == 1, "the job to start")
        await refused.refuse("jobs", when="NEW.status = 'done'")
        stop.set()  # it stops while the job runs: the job's completion is the last flush
        gate.set()
        await asyncio.wait_for(task, 10)  # and the worker stops cleanly all the same
    [entry] = logged(logs, "worker.complete_failed")
    assert entry["count"] == 1 and RefusedWrites.MESSAGE in str(entry["error"])
    assert (await queue.get_job(hub, job_id)).status == "running"
    await refused.allow()
    clock.advance(11.0)
    assert await Worker(hub, name="b", lease=10.0).drain() == 1
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts, len(ran)) == ("done", 2, 2)  # at least once: it ran again


async def test_lease_keeping_survives_refused_extensions_and_the_job_is_taken_over(
    clocked_hub: Hub, clock: FakeClock, refused: RefusedWrites
) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    gate = asyncio.Event()
    job_id = await enqueue_one(hub, recording_kind(ran, gate=gate))
    # Refuse extending a lease that is held (a claim or a reap moves the status, an extension does not).
    await refused.refuse("jobs", when="OLD.status = 'running' AND NEW.status = 'running'")
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        # One slot, none ahead: while attempt 1 runs, worker a claims nothing (the job stays b's to take).
        worker = Worker(hub, name="a", concurrency=1, prefetch=0, lease=0.3, poll_interval=0.05)
        a = asyncio.create_task(worker.run(stop))
        try:
            await until(lambda: len(ran) == 1, "the job to start")
            await until(lambda: len(logged(logs, "worker.lease_keeping_failed")) >= 2, "refused extensions")
            clock.advance(1.0)  # not extended: the lease runs out, and another worker takes the job over
            assert await queue.reap(hub) == 1
            [taken] = await queue.claim(hub, "b", 1, lease=0.3)
            assert (taken.id, taken.attempts) == (job_id, 2)
            await refused.allow()
            # Worker a's lease keeping still runs: it renews what it holds (now nothing of b's) and
            # reaps b's lease when that expires in its turn.
            clock.advance(1.0)
            await until(lambda: job_status(hub, job_id, "queued"), "worker a to reap the expired lease")
        finally:
            stop.set()
            gate.set()
            await asyncio.wait_for(a, 10)
    # Attempt 1 finished late on worker a: fenced out, the job is still the queue's.
    row = await queue.get_job(hub, job_id)
    assert (row.status, row.attempts) == ("queued", 2)


async def job_status(hub: Hub, job_id: int, status: str) -> bool:
    return (await queue.get_job(hub, job_id)).status == status


async def test_jobs_claimed_ahead_that_cannot_be_given_back_on_stop_are_taken_over(
    clocked_hub: Hub, clock: FakeClock, refused: RefusedWrites
) -> None:
    hub = clocked_hub
    ran: list[Job] = []
    gate = asyncio.Event()
    kind = recording_kind(ran, gate=gate)
    first, ahead = await enqueue_one(hub, kind), await enqueue_one(hub, kind)
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        worker = Worker(hub, name="a", concurrency=1, prefetch=1, lease=10.0, poll_interval=0.05)
        task = asyncio.create_task(worker.run(stop))
        await until(lambda: len(ran) == 1, "the first job to start")
        await until(lambda: job_status(hub, ahead, "running"), "the second job to be claimed ahead")
        await refused.refuse("jobs", when="NEW.status = 'queued'")  # giving back is refused
        stop.set()  # stopping gives back what waits before the running job is let finish
        await until(lambda: bool(logged(logs, "worker.release_failed")), "the refused give-back")
        gate.set()
        await asyncio.wait_for(task, 10)  # the worker stops cleanly all the same
    [entry] = logged(logs, "worker.release_failed")
    assert entry["count"] == 1 and RefusedWrites.MESSAGE in str(entry["error"])
    assert [j.id for j in ran] == [first] and (await queue.get_job(hub, first)).status == "done"
    assert (await queue.get_job(hub, ahead)).status == "running"  # still leased to the stopped worker
    await refused.allow()
    clock.advance(11.0)
    assert await Worker(hub, name="b", lease=10.0).drain() == 1
    row = await queue.get_job(hub, ahead)
    assert (row.status, row.attempts, [j.id for j in ran]) == ("done", 2, [first, ahead])  # the claim counted
