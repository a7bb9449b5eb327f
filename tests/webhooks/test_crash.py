"""``kill -9`` of the delivery worker in the middle of a burst of 2,000 events.

Afterwards every event reached the receiver at least once (distinct ``webhook-id``s), and the
duplicates are no more than the deliveries that were in flight (leased) when the worker died.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from hubwire import Integration
from hubwire.events import register
from hubwire.hub import Hub
from hubwire.store.events import append
from hubwire.store.tables import jobs
from tests.processes import ChildProcess, start, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # the ready waits are bounded, generously

SCRIPT = Path(__file__).with_name("worker_process.py")
EVENTS = 2000


@pytest.fixture
async def counting_receiver() -> AsyncIterator[tuple[str, Counter[str]]]:
    seen: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(0.002)
        seen[request.headers["webhook-id"]] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", seen
    await runner.cleanup()


def start_worker(url: str, data_dir: Path) -> ChildProcess:
    return start(SCRIPT, url, str(data_dir))


async def test_kill_9_mid_burst_loses_nothing(
    hub: Hub, db_url: str, tmp_path: Path, counting_receiver: tuple[str, Counter[str]]
) -> None:
    url, seen = counting_receiver
    hub2 = Hub(hub.settings, allow_private_networks=True, providers=hub.providers)
    token = hub2.activate()
    try:
        register("Burst.Happened", schema={"type": "object", "properties": {"n": {"type": "integer"}}})
        await Integration.connect(provider="webhook", url=url, events=["Burst.*"])
    finally:
        token.var.reset(token)
        await hub2.close()
    procs: list[ChildProcess] = []
    try:
        first = start_worker(db_url, tmp_path)
        procs.append(first)
        await first.ready()
        for start in range(0, EVENTS, 100):
            async with hub.transaction() as tx:
                for i in range(start, start + 100):
                    await append(tx, "Burst.Happened", "Burst", f"burst_{i}", {"n": i}, "test")
        await wait_until(lambda: len(seen) >= EVENTS // 4, 30, "a quarter of the burst delivered")
        first.proc.kill()
        first.proc.wait()
        async with hub.read() as conn:
            in_flight = (
                await conn.execute(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == "running"))
            ).scalar_one()
        assert len(seen) < EVENTS, "the kill came after the burst: nothing was tested"
        second = start_worker(db_url, tmp_path)
        procs.append(second)
        await second.ready()
        await wait_until(lambda: len(seen) >= EVENTS, 40, "every event delivered after the restart")
        await asyncio.sleep(0.5)  # let stragglers land before counting duplicates
        duplicates = sum(seen.values()) - len(seen)
        assert len(seen) == EVENTS
        assert duplicates <= in_flight, (duplicates, in_flight)
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.proc.kill()
            p.proc.wait()
