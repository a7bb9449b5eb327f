"""``kill -9`` of the forwarding worker in the middle of a burst: every event reaches the destination.

The destination is a loopback PostHog ``/batch/`` that answers slowly, so the kill lands while
batches are in flight; afterwards a second worker sends what the first left. Each event arrives at
least once (counted by its stable ``uuid``), and the outbox ends empty.
"""

from __future__ import annotations

import asyncio
import json
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
from hubwire.store.tables import analytics_outbox
from tests.processes import ChildProcess, start, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The webhooks' crash test worker: a plain Worker.run with loopback allowed (builtins load analytics).
SCRIPT = Path(__file__).parents[1] / "webhooks" / "worker_process.py"
EVENTS = 1000


@pytest.fixture
async def slow_posthog() -> AsyncIterator[tuple[str, Counter[str]]]:
    seen: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        await asyncio.sleep(0.05)
        for e in body["batch"]:
            seen[e["uuid"]] += 1
        return web.json_response({"status": 1})

    app = web.Application()
    app.router.add_post("/batch/", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_kill_9_mid_burst_loses_nothing(
    hub: Hub, db_url: str, tmp_path: Path, slow_posthog: tuple[str, Counter[str]]
) -> None:
    url, seen = slow_posthog
    hub2 = Hub(hub.settings, allow_private_networks=True, providers=hub.providers)
    token = hub2.activate()
    try:
        register("Burst.Happened", schema={"type": "object", "properties": {"n": {"type": "integer"}}})
        await Integration.connect(
            provider="analytics",
            destinations={"posthog": {"api_key": "phc_test", "host": url}},
            events=["Burst.*"],
            batch_size=10,
            flush_interval=0.1,
        )
    finally:
        token.var.reset(token)
        await hub2.close()
    procs: list[ChildProcess] = []
    try:
        first = start(SCRIPT, db_url, str(tmp_path))
        procs.append(first)
        await first.ready()
        for begin in range(0, EVENTS, 100):
            async with hub.transaction() as tx:
                for i in range(begin, begin + 100):
                    await append(tx, "Burst.Happened", "Burst", f"burst_{i}", {"n": i}, "test")
        await wait_until(lambda: len(seen) >= EVENTS // 5, 60, "a fifth of the burst forwarded")
        first.proc.kill()
        first.proc.wait()
        assert len(seen) < EVENTS, "the kill came after the burst: nothing was tested"
        second = start(SCRIPT, db_url, str(tmp_path))
        procs.append(second)
        await second.ready()
        await wait_until(lambda: len(seen) >= EVENTS, 90, "every event forwarded after the restart")
        assert len(seen) == EVENTS
        # The batch the kill interrupted was sent but not yet marked: its job's lease expires and
        # the second worker sends it again (the destination dedupes on uuid), then the outbox is empty.
        left = -1

        async def outbox() -> int:
            async with hub.read() as conn:
                return int((await conn.execute(sa.select(sa.func.count()).select_from(analytics_outbox))).scalar_one())

        for _ in range(600):  # at most a minute
            if not (left := await outbox()):
                break
            await asyncio.sleep(0.1)
        assert left == 0
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.proc.kill()
            p.proc.wait()
