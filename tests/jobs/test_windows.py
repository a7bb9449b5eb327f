"""Window jobs: one job per window of time in which items arrived, and one at once past each batch."""

from __future__ import annotations

import math

from hubwire.hub import Hub
from hubwire.jobs import list_jobs
from hubwire.jobs.windows import Windows
from hubwire.store.statements import Writes
from tests.fakes import FakeClock
from tests.jobs.test_queue import recording_kind

INTERVAL = 10.0
BATCH = 50


async def add(hub: Hub, kind: str, items: int, windows: Windows | None = None) -> None:
    writes = Writes(hub.dialect)
    (windows or hub.service(Windows)).enqueue_into(
        writes, hub, kind, {"n": items}, name="dest", items=items, interval=INTERVAL, batch=BATCH
    )
    await writes.commit(hub)


async def test_one_job_per_window_due_at_its_end_and_one_at_once_past_a_batch(
    clocked_hub: Hub, clock: FakeClock
) -> None:
    kind = recording_kind([])
    clock.now = math.floor(clock.now / INTERVAL) * INTERVAL + 1.0  # one second into a window
    window_end = clock.now - 1.0 + INTERVAL
    for _ in range(4):  # 40 items: under a batch
        await add(clocked_hub, kind, 10)
    queued = await list_jobs(clocked_hub, kind=kind)
    assert [(j.run_at, j.key) for j in queued] == [(window_end, f"{kind}:dest:{int(window_end // INTERVAL) - 1}")]

    await add(clocked_hub, kind, 10)  # 50: a full batch, due now
    await add(clocked_hub, kind, 30)  # 80: the job due now is still queued (its key is live)
    queued = await list_jobs(clocked_hub, kind=kind)
    assert sorted((j.run_at, j.key) for j in queued) == [
        (clock.now, f"{kind}:dest:full"),
        (window_end, f"{kind}:dest:{int(window_end // INTERVAL) - 1}"),
    ]

    clock.advance(INTERVAL)  # the next window: its own job, and the count starts again
    await add(clocked_hub, kind, 49)
    assert len(await list_jobs(clocked_hub, kind=kind)) == 3


async def test_a_rolled_back_transaction_leaves_nothing_remembered(clocked_hub: Hub) -> None:
    kind = recording_kind([])
    windows = Windows()
    writes = Writes(clocked_hub.dialect)
    windows.enqueue_into(writes, clocked_hub, kind, {}, name="dest", items=60, interval=INTERVAL, batch=BATCH)
    try:
        async with clocked_hub.transaction() as tx:
            await writes.run_in(tx)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert await list_jobs(clocked_hub, kind=kind) == []
    await add(clocked_hub, kind, 1, windows)  # the window's job again: the first was never committed
    assert len(await list_jobs(clocked_hub, kind=kind)) == 1


async def test_another_process_enqueues_its_own_window_job_once(clocked_hub: Hub) -> None:
    kind = recording_kind([])
    await add(clocked_hub, kind, 1, Windows())
    await add(clocked_hub, kind, 1, Windows())  # another process: it tries, the window's key makes it a no-op
    assert len(await list_jobs(clocked_hub, kind=kind)) == 1
