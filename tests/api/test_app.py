"""create_app: the app's hub is current in every request, embedded workers start and stop with it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx

import hubwire
from hubwire.api.app import create_app
from tests.conftest import TEST_SECRET


async def test_requests_act_on_the_apps_hub_not_the_callers(
    hub: hubwire.Hub, deal: hubwire.Noun, api_key: str, tmp_path: Path, sqlite_template: Path
) -> None:
    other_db = tmp_path / "other.db"
    shutil.copy(sqlite_template, other_db)
    other = hubwire.Hub(
        database_url=f"sqlite:///{other_db}", data_dir=tmp_path, secret_key=TEST_SECRET, auth_required=False
    )
    app = create_app(other)
    # The caller's current hub is ``hub`` (the fixture activated it); the app must use ``other``.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        made = (await c.post("/v1/deals", json={"name": "in other"})).json()
        assert (await c.get(f"/v1/deals/{made['$id']}")).status_code == 200
    assert await deal.count() == 0  # nothing reached the caller's hub
    async with other:
        assert (await deal.get(made["$id"]))["name"] == "in other"


async def test_embedded_workers_run_jobs_and_stop_with_the_app(hub: hubwire.Hub, api_key: str) -> None:
    ran: list[int] = []

    @hubwire.job_kind("test.api.embedded")
    async def record(job: hubwire.Job, hub: hubwire.Hub) -> None:
        ran.append(job.payload["n"])

    app = create_app(hub, workers=2, worker_concurrency=2)
    async with app.router.lifespan_context(app):
        tasks = app.state.workers
        assert len(tasks) == 2 and not any(t.done() for t in tasks)
        async with hub.transaction() as tx:
            await hubwire.jobs.enqueue_many(tx, "test.api.embedded", [{"n": i} for i in range(5)])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://t",
            headers={"Authorization": f"Bearer {api_key}"},
        ) as c:
            for _ in range(200):
                done = (await c.get("/v1/jobs", params={"kind": "test.api.embedded", "status": "done"})).json()
                if len(done["data"]) == 5:
                    break
                await asyncio.sleep(0.05)
            assert len(done["data"]) == 5
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert all(t.done() and not t.cancelled() and t.exception() is None for t in tasks)
