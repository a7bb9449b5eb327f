"""The worker loop on SQLite and PostgreSQL: concurrency, timeouts, lease keeping, stopping cleanly."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hubwire.hub import Hub
from hubwire.jobs import Backoff, Job, Worker, job_kind, list_jobs, queue
from hubwire.jobs.kinds import get_kind


async def test_run_processes_everything_once_within_its_concurrency(hub: Hub) -> None:
    kind = f"test.worker.{uuid.uuid4().hex[:8]}"
    seen: list[int] = []
    running = 0
    peak = 0

    @job_kind(kind)
    async def work(job: Job, hub: Hub) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        seen.append(job.payload["n"])
        running -= 1

    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": n} for n in range(150)])
    worker = Worker(hub, concurrency=6, poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(400):
        if len(seen) == 150:
            break
        await asyncio.sleep(0.02)
    async with hub.transaction() as tx:  # enqueued while it runs: picked up through the wake-up signal
        await queue.enqueue(tx, kind, {"n": 150})
    for _ in range(200):
        if len(seen) == 151:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert sorted(seen) == list(range(151))
    assert 1 < peak <= 6
    assert {r.status for r in await list_jobs(hub, kind=kind, limit=1000)} == {"done"}


async def test_a_handler_over_its_timeout_is_a_failed_attempt(hub: Hub) -> None:
    kind = f"test.worker.{uuid.uuid4().hex[:8]}"

    @job_kind(kind, timeout=0.05, max_attempts=2, backoff=Backoff(base=600.0))
    async def hang(job: Job, hub: Hub) -> None:
        await asyncio.sleep(5)

    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert job_id is not None
    assert await Worker(hub).drain(timeout=5) == 1
    row = await queue.get_job(hub, job_id)
    assert row.status == "queued" and row.attempts == 1 and (row.last_error or "").startswith("TimeoutError")
    assert row.run_at - row.updated_at >= 600.0 * 0.8


async def test_a_running_worker_keeps_its_leases_alive(hub: Hub) -> None:
    kind = f"test.worker.{uuid.uuid4().hex[:8]}"
    finished = asyncio.Event()

    @job_kind(kind)
    async def slow(job: Job, hub: Hub) -> None:
        await asyncio.sleep(2.5)
        finished.set()

    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, {})
    assert job_id is not None
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(hub, lease=1.0, poll_interval=0.05).run(stop))
    reaped = 0
    while not finished.is_set():  # three leases long: reaped unless the worker extends them
        reaped += await queue.reap(hub)
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    row = await queue.get_job(hub, job_id)
    assert reaped == 0 and row.status == "done" and row.attempts == 1


async def test_jobs_claimed_ahead_wait_leased_and_go_back_unattempted_on_stop(hub: Hub) -> None:
    kind = f"test.worker.{uuid.uuid4().hex[:8]}"
    gate = asyncio.Event()
    started: list[int] = []

    @job_kind(kind)
    async def blocked(job: Job, hub: Hub) -> None:
        started.append(job.id)
        await gate.wait()

    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": n} for n in range(5)])
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(hub, concurrency=2, prefetch=2, poll_interval=0.05).run(stop))
    for _ in range(200):
        if len(started) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    by_status = sorted((j.status, j.attempts) for j in await list_jobs(hub, kind=kind))
    # Two running, two claimed ahead (leased, an attempt each), one left in the queue.
    assert by_status == [("queued", 0)] + [("running", 1)] * 4
    assert len(started) == 2
    stop.set()
    await asyncio.sleep(0.2)
    # Stopping gives the two waiting back before the running ones finish, their attempt not counted.
    rows = {j.id: (j.status, j.attempts) for j in await list_jobs(hub, kind=kind)}
    assert sorted(rows[i] for i in started) == [("running", 1)] * 2
    assert sorted(v for i, v in rows.items() if i not in started) == [("queued", 0)] * 3
    gate.set()
    await asyncio.wait_for(task, 10)
    rows = {j.id: (j.status, j.attempts) for j in await list_jobs(hub, kind=kind)}
    assert sorted(rows[i] for i in started) == [("done", 1)] * 2
    assert len(started) == 2  # nothing started after the stop


async def test_a_job_claimed_ahead_keeps_its_lease_until_it_runs(hub: Hub) -> None:
    kind = f"test.worker.{uuid.uuid4().hex[:8]}"
    runs: list[int] = []

    @job_kind(kind)
    async def slow(job: Job, hub: Hub) -> None:
        runs.append(job.id)
        await asyncio.sleep(2.5)  # the second job waits this long, over two of its leases

    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": 0}, {"n": 1}])
    stop = asyncio.Event()
    first = Worker(hub, concurrency=1, prefetch=1, lease=1.0, poll_interval=0.05)
    task = asyncio.create_task(first.run(stop))
    for _ in range(200):
        if runs:
            break
        await asyncio.sleep(0.01)
    # Another worker that would take any job whose lease ran out.
    other = asyncio.create_task(Worker(hub, concurrency=1, prefetch=0, lease=1.0, poll_interval=0.05).run(stop))
    reaped = 0
    for _ in range(800):
        reaped += await queue.reap(hub)
        if len(runs) == 2 and {j.status for j in await list_jobs(hub, kind=kind)} == {"done"}:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(asyncio.gather(task, other), 10)
    assert reaped == 0 and len(runs) == 2 and len(set(runs)) == 2
    assert [j.attempts for j in await list_jobs(hub, kind=kind)] == [1, 1]
    assert first.processed == 2


async def test_worker_names_fit_the_fencing_column(hub: Hub) -> None:
    import socket

    a, b = Worker(hub), Worker(hub)
    assert a.name != b.name and a.name.startswith(socket.gethostname()[:20])
    assert len(Worker(hub, name="x" * 100).name) == 64


def _finish_kind(fail: bool = False) -> str:
    """A kind whose handlers return a value (or None for odd n) that its ``finish`` writes onto the job row."""
    from hubwire.store.statements import Statement

    kind = f"test.finish.{uuid.uuid4().hex[:8]}"

    def finish(hub: Hub, values: list[object]) -> list[Statement]:
        mark = "?" if hub.dialect == "sqlite" else "%s"
        table = "no_such_table" if fail else "jobs"
        sql = f"UPDATE {table} SET last_error = {mark} WHERE id = {mark}"
        return [Statement(sql, [(f"finished {v}", v) for v in values], many=True)]

    @job_kind(kind, finish=finish)
    async def work(job: Job, hub: Hub) -> int | None:
        return job.id if job.payload["n"] % 2 == 0 else None

    return kind


async def test_values_returned_by_handlers_are_written_by_their_kinds_finish(hub: Hub) -> None:
    kind = _finish_kind()
    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": n} for n in range(40)])
    assert await Worker(hub, concurrency=8).drain() == 40
    rows = await list_jobs(hub, kind=kind, limit=100)
    assert {r.status for r in rows} == {"done"}
    assert {r.id: r.last_error for r in rows} == {
        r.id: (f"finished {r.id}" if r.payload["n"] % 2 == 0 else None) for r in rows
    }


async def test_a_failing_finish_completes_nothing_and_the_jobs_run_again(hub: Hub) -> None:
    """The finish writes and the completion go together: if the writes fail, the jobs stay leased (and rerun)."""
    kind = _finish_kind(fail=True)
    async with hub.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": 0}, {"n": 2}])
    (a, b) = await queue.claim(hub, "w", 5, lease=30.0)
    finish = get_kind(kind).finish
    assert finish is not None
    with pytest.raises(Exception, match="no_such_table"):
        await queue.claim(hub, "w", 5, lease=30.0, done=[(a.id, 1), (b.id, 1)], finish=[(finish, [a.id, b.id])])
    assert {r.status for r in await list_jobs(hub, kind=kind)} == {"running"}
