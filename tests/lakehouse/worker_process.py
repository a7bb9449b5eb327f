"""A lakehouse worker for the crash test: ``python worker_process.py DATABASE_URL DATA_DIR --ready-fd N``.

Runs ``Worker.run`` with batches of 20 events and a claim lease of 2 s (the job lease too), so a
batch a killed worker left is taken over within seconds; says it is ready on fd N when it starts.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.lakehouse import feed
from tests.processes import say_ready

SECRET = "test-secret-key-not-for-production"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args()
    feed.LEASE = 2.0
    hub = Hub(
        database_url=args.database_url,
        auto_migrate=False,
        secret_key=SECRET,
        data_dir=args.data_dir,
        lakehouse_batch_size=20,
        lakehouse_flush_interval=0.1,
    )
    async with hub:
        worker = Worker(hub, lease=2.0, poll_interval=0.2, tick_interval=0.5)
        say_ready(args.ready_fd)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
