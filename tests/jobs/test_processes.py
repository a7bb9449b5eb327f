"""Worker processes against a real database: ``kill -9`` mid-job, and exactly-once without crashes.

Each worker is ``tests/jobs/worker_process.py`` run with the project's interpreter.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.jobs import queue
from hubwire.store.tables import jobs
from tests.jobs.worker_process import RECORD, SLOW
from tests.processes import ChildProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # the ready waits are bounded, generously

SCRIPT = Path(__file__).with_name("worker_process.py")


class Workers:
    """Starts worker processes; whatever is still running at the end is killed."""

    def __init__(self, url: str, marks: Path) -> None:
        self.url = url
        self.marks = marks
        self.procs: list[ChildProcess] = []

    def start(self, *, lease: float = 2.0, concurrency: int = 16) -> ChildProcess:
        args = [self.url, str(self.marks), "--lease", str(lease), "--concurrency", str(concurrency)]
        child = start(SCRIPT, *args, stderr=subprocess.PIPE)
        self.procs.append(child)
        return child

    def close(self) -> None:
        for child in self.procs:
            p = child.proc
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stderr:
                p.stderr.close()


async def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = check()  # type: ignore[operator]
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    marks = tmp_path / "marks"
    marks.mkdir()
    w = Workers(db_url, marks)
    yield w
    w.close()


async def test_a_job_killed_mid_run_is_finished_by_another_worker(hub: Hub, workers: Workers) -> None:
    first = workers.start(lease=1.5)
    await first.ready()
    async with hub.transaction() as tx:
        job_id = await queue.enqueue(tx, SLOW, {"sleep": 120.0}, max_attempts=3)
    started = workers.marks / f"started-{job_id}-{first.pid}"
    await wait_for(started.exists, 20.0, "the first worker to start the job")
    os.kill(first.pid, signal.SIGKILL)
    first.proc.wait()
    assert job_id is not None
    assert (await queue.get_job(hub, job_id)).status == "running"  # held by a dead worker's lease

    second = workers.start(lease=1.5)
    await second.ready()

    async def done() -> bool:
        return (await queue.get_job(hub, job_id)).status == "done"

    await wait_for(done, 25.0, "the second worker to finish the job")
    row = await queue.get_job(hub, job_id)
    assert row.attempts == 2
    assert (workers.marks / f"done-{job_id}-{second.pid}").exists()
    assert not (workers.marks / f"done-{job_id}-{first.pid}").exists()
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=15) == 0


@pytest.mark.postgres
async def test_four_processes_without_crashes_run_every_job_exactly_once(pg_url: str, tmp_path: Path) -> None:
    from tests.conftest import _pg_reset

    _pg_reset(pg_url)
    marks = tmp_path / "marks"
    marks.mkdir()
    hub = Hub(database_url=pg_url, auto_migrate=False, secret_key="s", data_dir=tmp_path)
    pool = Workers(pg_url, marks)
    async with hub:
        async with hub.transaction() as tx:
            await tx.conn.execute(sa.text("CREATE TABLE IF NOT EXISTS job_runs (job_id bigint NOT NULL, pid int)"))
            await tx.conn.execute(sa.text("TRUNCATE job_runs"))
        try:
            procs = [pool.start(lease=10.0, concurrency=16) for _ in range(4)]
            for p in procs:
                await p.ready()
            total = 2000
            for start in range(0, total, 250):  # enqueued while the workers run
                async with hub.transaction() as tx:
                    await queue.enqueue_many(tx, RECORD, [{"n": n} for n in range(start, start + 250)], max_attempts=3)

            async def all_done() -> bool:
                async with hub.read() as conn:
                    q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == "done")
                    return int((await conn.execute(q)).scalar_one()) == total

            await wait_for(all_done, 60.0, f"{total} jobs done")
            for p in procs:
                p.proc.send_signal(signal.SIGTERM)
            assert [p.proc.wait(timeout=15) for p in procs] == [0, 0, 0, 0]
            async with hub.read() as conn:
                per_job = sa.text("SELECT job_id, count(*), min(pid) FROM job_runs GROUP BY job_id")
                runs = (await conn.execute(per_job)).all()
                ids = set((await conn.execute(sa.select(jobs.c.id))).scalars())
        finally:
            pool.close()
            async with hub.transaction() as tx:
                await tx.conn.execute(sa.text("DROP TABLE IF EXISTS job_runs"))
    assert len(ids) == total and {r[0] for r in runs} == ids
    assert [r for r in runs if r[1] != 1] == []  # exactly once each
    assert len({r[2] for r in runs}) >= 2  # the work was really shared
