"""Four worker processes on PostgreSQL share the schedules: exactly one sync per tick, none overlapping.

The schedules' clock is a file every process reads; the test moves it on by one period at a time
and waits for that tick's runs, then asserts from the ``sync_runs`` and ``jobs`` tables only.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import SYNC_JOB, Integration
from hubwire.hub import Hub
from hubwire.store.tables import jobs, sync_runs
from hubwire.sync.frequency import parse_frequency
from tests.jobs.test_processes import wait_for
from tests.processes import ChildProcess, start
from tests.sync.schedule_worker import TickProvider, file_clock

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.postgres]

SCRIPT = Path(__file__).with_name("schedule_worker.py")
T0 = 1_800_000_000.0
PERIOD = 900.0
TICKS = 5
INTEGRATIONS = 3
YEARLY = "0 0 1 1 *"  # no reconciliation falls due meanwhile (T0 is mid-January)


async def test_four_workers_run_each_tick_exactly_once_without_overlap(pg_url: str, tmp_path: Path) -> None:
    from tests.conftest import _pg_reset

    _pg_reset(pg_url)
    clock = tmp_path / "clock"
    clock.write_text(repr(T0))
    providers = ProviderRegistry()
    providers.register(TickProvider())
    hub = Hub(database_url=pg_url, auto_migrate=False, secret_key="s", data_dir=tmp_path, providers=providers)
    hub.provide(type(file_clock(clock)), file_clock(clock))
    procs: list[ChildProcess] = []
    async with hub:
        ids = [
            (await Integration.connect(provider="ticktest", sync_frequency="every 15m", reconcile_frequency=YEARLY)).id
            for _ in range(INTEGRATIONS)
        ]
        try:
            procs = [start(SCRIPT, pg_url, str(clock), stderr=subprocess.PIPE) for _ in range(4)]
            for p in procs:
                await p.ready()

            async def runs_done(n: int) -> bool:
                async with hub.read() as conn:
                    q = sa.select(sa.func.count()).select_from(sync_runs).where(sync_runs.c.status == "succeeded")
                    return int((await conn.execute(q)).scalar_one()) >= n

            await wait_for(lambda: runs_done(INTEGRATIONS), 60.0, "the initial syncs")
            for k in range(1, TICKS + 1):
                clock.write_text(repr(T0 + k * PERIOD))  # one tick of each integration falls due
                await wait_for(lambda k=k: runs_done(INTEGRATIONS * (k + 1)), 60.0, f"the runs of tick {k}")
            for p in procs:
                p.proc.send_signal(signal.SIGTERM)
            assert [p.proc.wait(timeout=30) for p in procs] == [0] * 4
            async with hub.read() as conn:
                runs = (await conn.execute(sa.select(sync_runs).order_by(sync_runs.c.started_at))).all()
                done = (
                    await conn.execute(
                        sa.select(jobs.c.payload, jobs.c.worker).where(jobs.c.kind == SYNC_JOB, jobs.c.status == "done")
                    )
                ).all()
                left = (
                    await conn.execute(
                        sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status.in_(("queued", "running")))
                    )
                ).scalar_one()
        finally:
            for p in procs:
                if p.proc.poll() is None:
                    p.proc.kill()
                p.proc.wait()
                if p.proc.stderr:
                    p.proc.stderr.close()
    every = parse_frequency("every 15m")
    for iid in ids:
        mine = [r for r in runs if r.integration_id == iid]
        assert [r.status for r in mine] == ["succeeded"] * (TICKS + 1)
        ticks = [r.tick for r in mine if r.tick is not None]
        # Exactly one run per tick: each due tick once, in order, none missing, none twice.
        assert ticks == [every.due(T0 + k * PERIOD, iid) for k in range(1, TICKS + 1)]
        # Never overlapping: each run of an integration finished before its next one started.
        for before, after in itertools.pairwise(mine):
            assert before.finished_at <= after.started_at
    assert len(done) == INTEGRATIONS * (TICKS + 1) and left == 0
    scheduled = [d.payload for d in done if d.payload.get("tick") is not None]
    assert len(scheduled) == INTEGRATIONS * TICKS
    assert len({(p["integration_id"], p["tick"]) for p in scheduled}) == INTEGRATIONS * TICKS
