"""A delivery worker process for the crash test: ``python worker_process.py DATABASE_URL DATA_DIR``.

Runs ``Worker.run`` (loopback allowed) until killed; writes ``DATA_DIR/ready-<pid>`` when it starts.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import hubwire.webhooks  # noqa: F401  (the webhook.deliver job kind)
from hubwire.hub import Hub
from hubwire.jobs import Worker

SECRET = "test-secret-key-not-for-production"


async def main() -> None:
    url, data_dir = sys.argv[1], Path(sys.argv[2])
    hub = Hub(database_url=url, auto_migrate=False, secret_key=SECRET, data_dir=data_dir, allow_private_networks=True)
    async with hub:
        worker = Worker(hub, lease=2.0, poll_interval=0.2, concurrency=32)
        (data_dir / f"ready-{os.getpid()}").touch()
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
