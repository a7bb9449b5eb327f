"""``kill -9`` of the worker in the middle of appending: every event is in the table exactly once.

Many small batches (20 events) so that the kill lands while batches are being appended; a second
worker then takes over what the first left (claimed batches after their 2 s lease).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hubwire import lakehouse
from hubwire.hub import Hub
from tests.lakehouse.conftest import collect, events
from tests.processes import ChildProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).parent / "worker_process.py"
EVENTS = 2000


async def test_kill_9_mid_append_loses_and_duplicates_nothing(hub: Hub, db_url: str, tmp_path: Path) -> None:
    appended = 0

    async def rows() -> int:
        nonlocal appended
        appended = (await lakehouse.stats(hub))["rows"]
        return appended

    procs: list[ChildProcess] = []
    try:
        first = start(SCRIPT, db_url, str(tmp_path))
        procs.append(first)
        await first.ready()
        for begin in range(0, EVENTS, 100):
            await collect(hub, events(100, start=1.8e9 + begin))
        for _ in range(600):
            if await rows() >= EVENTS // 10:
                break
            await asyncio.sleep(0.05)
        first.proc.kill()
        first.proc.wait()
        assert 0 < appended < EVENTS, f"the kill came at {appended} of {EVENTS}: nothing was tested"
        second = start(SCRIPT, db_url, str(tmp_path))
        procs.append(second)
        await second.ready()
        for _ in range(1200):  # at most two minutes (a bounded wait for the other process, not a timing)
            stats = await lakehouse.stats(hub)
            if stats["pending"] == 0 and stats["rows"] >= EVENTS:
                break
            await asyncio.sleep(0.1)
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.proc.kill()
            p.proc.wait()
    r = await lakehouse.query(hub, "select count(*), count(distinct id) from events")
    assert r.rows == [[EVENTS, EVENTS]]
    assert (await lakehouse.pending(hub)).waiting == 0
