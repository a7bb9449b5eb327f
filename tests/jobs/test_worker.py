"""The worker loop on SQLite and PostgreSQL: concurrency, timeouts, lease keeping, stopping cleanly."""

from __future__ import annotations

import asyncio
import uuid

from hubwire.hub import Hub
from hubwire.jobs import Backoff, Job, Worker, job_kind, list_jobs, queue


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


async def test_worker_names_fit_the_fencing_column(hub: Hub) -> None:
    import socket

    a, b = Worker(hub), Worker(hub)
    assert a.name != b.name and a.name.startswith(socket.gethostname()[:20])
    assert len(Worker(hub, name="x" * 100).name) == 64
