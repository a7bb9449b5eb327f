"""A worker process for the schedule tests: ``python schedule_worker.py DATABASE_URL CLOCK_FILE --ready-fd N``.

Registers :class:`TickProvider`, reads the schedules' time from CLOCK_FILE (the test moves it, one
tick at a time), says it is ready on fd N and runs ``Worker.run`` until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress, default_registry
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.sync.schedules import SchedulerClock
from tests.processes import say_ready

SECRET = "test-secret-key-not-for-production"


class TickProvider(Provider):
    """Connects with nothing; a sync takes a moment (so that an overlap would show) and sees nothing."""

    slug = "ticktest"
    name = "Tick test"
    syncs = True

    def slug_for(self, config: object) -> None:  # type: ignore[override]
        return None  # a new Integration per connect

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        await asyncio.sleep(0.2)
        return 0


def file_clock(path: Path) -> SchedulerClock:
    return SchedulerClock(lambda: float(path.read_text()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("clock", type=Path)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args()
    default_registry.register(TickProvider())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    hub = Hub(database_url=args.database_url, auto_migrate=False, secret_key=SECRET, data_dir=args.clock.parent)
    hub.provide(SchedulerClock, file_clock(args.clock))
    async with hub:
        worker = Worker(hub, lease=10.0, poll_interval=0.1, tick_interval=0.05, concurrency=8)
        say_ready(args.ready_fd)
        await worker.run(stop)


if __name__ == "__main__":
    asyncio.run(main())
