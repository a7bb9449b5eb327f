"""A worker process for the process tests: ``python worker_process.py DATABASE_URL MARK_DIR --ready-fd N [--lease S]``.

Registers the test job kinds, says it is ready on fd N once it is about to work, and runs
``Worker.run`` until SIGTERM. Kinds:

- ``test.proc.record``: inserts ``(job id, worker pid)`` into the side table ``job_runs``.
- ``test.proc.slow``: writes ``started-<job>-<pid>``; on its first attempt sleeps ``payload["sleep"]``
  seconds (long enough to be killed in); then writes ``done-<job>-<pid>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.jobs import Job, Worker, job_kind
from tests.processes import say_ready

SECRET = "test-secret-key-not-for-production"
RECORD = "test.proc.record"
SLOW = "test.proc.slow"


def register(marks: Path) -> None:
    @job_kind(RECORD, max_attempts=3)
    async def record(job: Job, hub: Hub) -> None:
        async with hub.transaction() as tx:
            await tx.conn.execute(
                sa.text("INSERT INTO job_runs (job_id, pid) VALUES (:j, :p)"), {"j": job.id, "p": os.getpid()}
            )

    @job_kind(SLOW, max_attempts=3)
    async def slow(job: Job, hub: Hub) -> None:
        (marks / f"started-{job.id}-{os.getpid()}").touch()
        if job.attempts == 1:
            await asyncio.sleep(float(job.payload.get("sleep", 60.0)))
        (marks / f"done-{job.id}-{os.getpid()}").touch()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("marks", type=Path)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args()
    register(args.marks)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    hub = Hub(database_url=args.database_url, auto_migrate=False, secret_key=SECRET, data_dir=args.marks)
    async with hub:
        worker = Worker(hub, lease=args.lease, poll_interval=args.poll_interval, concurrency=args.concurrency)
        say_ready(args.ready_fd)
        await worker.run(stop)


if __name__ == "__main__":
    asyncio.run(main())
