"""PostgreSQL only: concurrent claims never overlap (SKIP LOCKED), and NOTIFY wakes an idle worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.jobs import Job, Worker, job_kind, queue
from tests.conftest import TEST_SECRET, _pg_reset

pytestmark = pytest.mark.postgres


@pytest.fixture
async def two_hubs(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two Hubs on one database: separate engines and pools, as two processes would have."""
    _pg_reset(pg_url)
    a = Hub(database_url=pg_url, data_dir=tmp_path, secret_key=TEST_SECRET, auto_migrate=False)
    b = Hub(database_url=pg_url, data_dir=tmp_path, secret_key=TEST_SECRET, auto_migrate=False)
    async with a, b:
        yield a, b


async def test_concurrent_claims_never_get_the_same_job(two_hubs: tuple[Hub, Hub]) -> None:
    a, b = two_hubs
    kind = f"test.pg.{uuid.uuid4().hex[:8]}"

    @job_kind(kind)
    async def noop(job: Job, hub: Hub) -> None:
        return None

    total = 1500
    async with a.transaction() as tx:
        await queue.enqueue_many(tx, kind, [{"n": n} for n in range(total)])

    claims: dict[str, list[int]] = {}
    # Every claimer takes its first batch before any takes a second: all eight claim while the
    # queue is full, whatever the scheduling (a fast one cannot empty it alone).
    first_batches = asyncio.Barrier(8)

    async def claimer(hub: Hub, name: str) -> None:
        got = claims.setdefault(name, [])
        while True:
            batch = await queue.claim(hub, name, 25, lease=60.0)
            if len(got) == 0:
                await first_batches.wait()
            if not batch:
                return
            got.extend(j.id for j in batch)

    await asyncio.gather(*(claimer(h, f"{h is a}-{i}") for h in (a, b) for i in range(4)))
    every = [i for got in claims.values() for i in got]
    assert len(every) == total and len(set(every)) == total  # all claimed, none twice
    assert all(len(got) >= 25 for got in claims.values())  # all eight really raced
    async with a.read() as conn:
        workers = (
            await conn.execute(sa.text("SELECT worker, count(*) FROM jobs WHERE status = 'running' GROUP BY worker"))
        ).all()
    assert {w: n for w, n in workers} == {w: len(got) for w, got in claims.items() if got}


async def test_notify_wakes_an_idle_worker_long_before_its_poll(two_hubs: tuple[Hub, Hub]) -> None:
    worker_hub, producer = two_hubs
    kind = f"test.pg.{uuid.uuid4().hex[:8]}"
    ran = asyncio.Event()

    @job_kind(kind)
    async def mark(job: Job, hub: Hub) -> None:
        ran.set()

    async def listeners() -> int:
        async with producer.read() as conn:
            q = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            return int((await conn.execute(sa.text(q))).scalar_one())

    async def until(check: Callable[[int], bool]) -> int:
        deadline = time.monotonic() + 10
        while True:
            n = await listeners()
            if check(n) or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.05)

    assert await until(lambda n: n == 0) == 0  # the listeners of earlier tests are gone
    poll = 30.0
    worker = Worker(worker_hub, poll_interval=poll)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        # Wait until the worker listens and has gone idle on the empty queue.
        assert await until(lambda n: n == 1) == 1, "the worker never started listening"
        await asyncio.sleep(0.3)
        # Enqueued through another Hub: only NOTIFY (not the in-process signal) can wake the worker.
        started = time.monotonic()
        async with producer.transaction() as tx:
            await queue.enqueue(tx, kind, {})
        await asyncio.wait_for(ran.wait(), timeout=poll / 2)
        latency = time.monotonic() - started
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert latency < 2.0, f"woken after {latency:.2f}s, with a {poll:.0f}s poll interval"
