"""A delivery worker process for the crash test: ``python worker_process.py DATABASE_URL DATA_DIR --ready-fd N``.

Runs ``Worker.run`` (loopback allowed) until killed; says it is ready on fd N when it starts.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import hubwire.webhooks  # noqa: F401  (the webhook.deliver job kind)
from hubwire.hub import Hub
from hubwire.jobs import Worker
from tests.processes import say_ready

SECRET = "test-secret-key-not-for-production"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args()
    url, data_dir = args.database_url, args.data_dir
    hub = Hub(database_url=url, auto_migrate=False, secret_key=SECRET, data_dir=data_dir, allow_private_networks=True)
    async with hub:
        worker = Worker(hub, lease=2.0, poll_interval=0.2, concurrency=32)
        say_ready(args.ready_fd)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
