"""``hubwire worker``: a job worker process, for scale-out on PostgreSQL (many machines).

SIGTERM or Ctrl-C stops claiming and lets the jobs in flight finish; a second signal cancels them
(their leases expire and another worker takes them over).
"""

from __future__ import annotations

import asyncio
import signal

import typer

from hubwire.cli.output import say
from hubwire.cli.runtime import import_modules, redacted_url, tune_garbage_collector
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.settings import Settings

__all__ = ["run_worker", "worker"]


def worker(
    concurrency: int = typer.Option(None, "--concurrency", min=1, help="Jobs in flight (default 32)."),
    imports: list[str] = typer.Option([], "--import", help="Import MODULE first (repeatable)."),
) -> None:
    """Run a job worker until SIGTERM/SIGINT (graceful: finishes the jobs in flight)."""
    import_modules(imports)
    settings = Settings()
    processed = asyncio.run(_main(settings, concurrency or settings.worker_concurrency))
    say(f"worker stopped after {processed} jobs", err=True)


async def _main(settings: Settings, concurrency: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            say("stopping: no new jobs, finishing those in flight (signal again to cancel them)", err=True)
            stop.set()
        elif current is not None:
            current.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await run_worker(settings, concurrency, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_worker(settings: Settings, concurrency: int, stop: asyncio.Event) -> int:
    """Run one Worker on a Hub from ``settings`` until ``stop`` is set; return the jobs it processed."""
    async with Hub(settings) as hub:
        w = Worker(hub, concurrency=concurrency)
        tune_garbage_collector()
        say(
            f"worker {w.name} on {redacted_url(settings.database_url)} (concurrency {concurrency}); Ctrl-C to stop",
            err=True,
        )
        await w.run(stop)
        return w.processed
