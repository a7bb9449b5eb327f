"""The push outbox against the loopback widgets API: local changes of a pushed Noun reach the
provider through durable jobs (create/update/delete, idempotent retries, Retry-After, dead letter
and retry, superseded versions, a worker that stops), and their echo is no change for the sync."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ValidationError
from hubwire.events import event_type
from hubwire.hub import Hub
from hubwire.jobs import Worker, list_jobs, queue, retry_job
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.push import PUSH_JOB, push_status
from hubwire.store.events import read_after
from hubwire.store.tables import push_outbox
from hubwire.sync.runs import list_runs
from hubwire.sync.state import ref_of
from tests.connectors.loopback import LOOPBACK, TOKEN, LoopbackAPI
from tests.sync.widgets import Widget, Widgets


class Clock:
    """The hub's clock, moved by the test: a job retried later is ready when the test says so."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(hub: Hub) -> Clock:
    c = Clock()
    hub.clock = c

    async def sleep(seconds: float) -> None:  # a wait of the HTTP layer (a rate budget held) passes at once
        c.advance(seconds)

    # One attempt per push: each failure is the job's to retry (with its backoff), not the HTTP layer's.
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=sleep, clock=c, retry=RetryPolicy(attempts=1)))
    return c


async def connect(api: LoopbackAPI, directions: dict[str, str] | None = None) -> str:
    extra: dict[str, Any] = {"directions": directions} if directions is not None else {}
    integ = await Integration.connect(provider="widgets", token=TOKEN, api_base_url=api.url, **extra)
    return integ.id


@pytest.fixture
async def pushing(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI, clock: Clock) -> str:
    providers.register(Widgets())
    iid = await connect(api, {"Widget": "both"})
    await Worker(hub).drain()  # the initial sync: nothing there yet
    return iid


async def push_jobs(hub: Hub, status: str | None = None) -> list[queue.JobRow]:
    return await list_jobs(hub, kind=PUSH_JOB, status=status)


async def outbox_rows(hub: Hub) -> list[Any]:
    async with hub.read() as conn:
        return list((await conn.execute(sa.select(push_outbox))).all())


def body(seen: Any) -> dict[str, Any]:
    return json.loads(seen.body) if seen.body else {}


async def test_create_update_delete_reach_the_provider(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    gizmo = await Widget.create(title="Gizmo", color="red", size=4)
    # The job committed with the entity and its event.
    [job] = await push_jobs(hub, "queued")
    assert job.payload == {
        "integration_id": pushing,
        "noun": "Widget",
        "entity_id": gizmo.id,
        "verb": "create",
        "version": 1,
    }
    await Worker(hub).drain()
    [post] = api.writes()
    assert (post.method, post.path) == ("POST", "/widgets")
    assert body(post) == {"name": "Gizmo", "color": "red"}  # size is mapped by a function: not sent
    assert post.headers["Idempotency-Key"] == f"hubwire-{pushing}-{gizmo.id}-create"
    [remote] = api.widgets
    async with hub.read() as conn:
        ref = await ref_of(conn, pushing, gizmo.id)
    assert ref is not None and ref.remote_id == remote["id"] and ref.entity_version == 1

    await Widget.update(gizmo.id, color="blue")
    await Worker(hub).drain()
    patch = api.writes()[-1]
    assert (patch.method, patch.path, body(patch)) == ("PATCH", f"/widgets/{remote['id']}", {"color": "blue"})
    assert patch.headers["Idempotency-Key"] == f"hubwire-{pushing}-{gizmo.id}-v2"
    assert api.widget(remote["id"])["color"] == "blue"  # type: ignore[index]

    await Widget.delete(gizmo.id)
    await Worker(hub).drain()
    assert (api.writes()[-1].method, api.widgets) == ("DELETE", [])
    async with hub.read() as conn:
        assert await ref_of(conn, pushing, gizmo.id) is None
    assert await outbox_rows(hub) == []
    assert [j.status for j in await push_jobs(hub)] == ["done"] * 3
    assert (await push_status(hub, pushing)).to_dict() == {"pending": 0, "failed": 0}


async def test_a_pulled_noun_pushes_nothing(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI) -> None:
    providers.register(Widgets())
    await connect(api)  # the provider's default for Widget: pull
    await Widget.create(title="Local only")
    assert await push_jobs(hub) == [] and await outbox_rows(hub) == []


async def test_the_echo_of_a_push_is_no_change_for_the_next_sync(
    hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock
) -> None:
    api.widgets.append({"id": "w1", "name": "Remote", "dims": {"w": 1}, "owner_id": None, "color": "x", "updated": 5})
    await run_sync(hub, pushing)
    # What the provider's sync brought in is not sent back to it.
    assert [w["title"] for w in await Widget.find(limit=10)] == ["Remote"]
    assert await push_jobs(hub) == []

    gizmo = await Widget.create(title="Gizmo", color="red")
    [remote] = await Widget.find({"title": "Remote"})
    await Widget.update(remote.id, color="green")  # an entity that came from the provider, changed here
    await Worker(hub).drain()
    # Two entities' pushes are two jobs, run in either order by the worker's slots.
    assert sorted(((r.method, body(r)) for r in api.writes()), key=lambda w: w[0]) == [
        # An entity the sync brought: what differs from the ref's base (what the sync read).
        ("PATCH", {"color": "green"}),
        ("POST", {"name": "Gizmo", "color": "red"}),
    ]
    before = await read_after_widget_events(hub)
    clock.advance(60)  # the runs are listed newest first
    await run_sync(hub, pushing, full=True)
    run = (await list_runs(hub, pushing))[0]
    assert run.counts["Widget"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "deleted": 0,
        "failed": 0,
        "conflicts": 0,
    }
    assert await read_after_widget_events(hub) == before
    assert {w["title"] for w in await Widget.find(limit=10)} == {"Gizmo", "Remote"}
    assert (await Widget.get(gizmo.id))["color"] == "red"


async def read_after_widget_events(hub: Hub) -> list[str]:
    async with hub.read() as conn:
        return [e.id for e in await read_after(conn, 0, limit=1000) if e.type.startswith("Widget.")]


async def test_a_lost_answer_is_retried_with_the_same_key_and_no_duplicate(
    hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock
) -> None:
    api.lose_answers = 1  # the provider creates the widget, the answer is a 500
    gizmo = await Widget.create(title="Gizmo")
    await Worker(hub).drain()
    [job] = await push_jobs(hub, "queued")
    assert job.attempts == 1 and "500" in (job.last_error or "")
    assert (await push_status(hub, pushing)).to_dict() == {"pending": 1, "failed": 0}
    clock.advance(3600)
    await Worker(hub).drain()
    posts = [r for r in api.writes() if r.method == "POST"]
    assert len(posts) == 2 and len({p.headers["Idempotency-Key"] for p in posts}) == 1
    assert len(api.widgets) == 1  # replayed, not made twice
    async with hub.read() as conn:
        ref = await ref_of(conn, pushing, gizmo.id)
    assert ref is not None and ref.remote_id == api.widgets[0]["id"]


async def test_a_429_waits_for_its_retry_after(hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock) -> None:
    api.fail_next(1, 429, {"Retry-After": "120"})
    await Widget.create(title="Gizmo")
    await Worker(hub).drain()
    [job] = await push_jobs(hub, "queued")
    assert job.run_at == pytest.approx(clock.t + 120)
    assert api.widgets == []
    clock.advance(119)
    assert await Worker(hub).drain() == 0  # not before the provider said
    clock.advance(2)
    await Worker(hub).drain()
    assert [w["name"] for w in api.widgets] == ["Gizmo"]


async def test_a_push_that_keeps_failing_is_dead_lettered_then_retried(
    hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock
) -> None:
    api.fail_paths["/widgets"] = 503
    gizmo = await Widget.create(title="Gizmo")
    for _ in range(8):
        await Worker(hub).drain()
        clock.advance(5000)  # past the longest backoff: 3600 s, +20% jitter
    [dead] = await push_jobs(hub, "dead")
    assert dead.attempts == 8 and "503" in (dead.last_error or "")
    assert (await push_status(hub, pushing)).to_dict() == {"pending": 0, "failed": 1}
    async with hub.read() as conn:
        [failed] = await read_after(conn, 0, types=["Push.Failed"])
    assert failed.entity_id == gizmo.id
    assert failed.data["integration_id"] == pushing and failed.data["job_id"] == dead.id
    assert event_type("Push.Failed").category == "Push"

    del api.fail_paths["/widgets"]
    await retry_job(hub, dead.id)
    await Worker(hub).drain()
    assert [w["name"] for w in api.widgets] == ["Gizmo"]
    assert (await push_status(hub, pushing)).to_dict() == {"pending": 0, "failed": 0}


async def test_a_change_after_a_dead_letter_pushes_again_and_the_old_job_is_superseded(
    hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock
) -> None:
    api.fail_paths["/widgets"] = 400  # refused: dead at once
    gizmo = await Widget.create(title="Gizmo")
    await Worker(hub).drain()
    [dead] = await push_jobs(hub, "dead")
    assert dead.attempts == 1
    del api.fail_paths["/widgets"]
    await Widget.update(gizmo.id, title="Gizmo 2")  # a new job for the row
    await Worker(hub).drain()
    assert [w["name"] for w in api.widgets] == ["Gizmo 2"]
    await retry_job(hub, dead.id)  # the old one, retried late, sends nothing stale
    await Worker(hub).drain()
    assert len(api.writes()) == 2 and [w["name"] for w in api.widgets] == ["Gizmo 2"]


async def test_newer_versions_supersede_a_pending_push(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    gizmo = await Widget.create(title="v1")
    await Widget.update(gizmo.id, title="v2")
    await Widget.update(gizmo.id, title="v3", color="teal")
    [job] = await push_jobs(hub, "queued")  # one job, saying the newest version
    assert (job.payload["verb"], job.payload["version"]) == ("update", 3)
    await Worker(hub).drain()
    [post] = api.writes()
    assert body(post) == {"name": "v3", "color": "teal"}


async def test_a_change_while_a_push_is_in_flight_is_pushed_after_it(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    gate = api.hold_writes = asyncio.Event()
    gizmo = await Widget.create(title="first")
    worker = asyncio.create_task(Worker(hub).drain())
    await api.write_arrived.wait()  # the POST of "first" is at the provider, unanswered
    await Widget.update(gizmo.id, title="second")
    assert len(await push_jobs(hub)) == 1  # the running job owns the newer change too
    gate.set()
    await worker
    assert [(r.method, body(r)) for r in api.writes()] == [("POST", {"name": "first"}), ("PATCH", {"name": "second"})]
    assert [w["name"] for w in api.widgets] == ["second"]
    async with hub.read() as conn:
        ref = await ref_of(conn, pushing, gizmo.id)
    assert ref is not None and ref.entity_version == 2
    assert [r.job_id for r in await outbox_rows(hub)] == [None]


async def test_a_push_survives_its_worker_stopping(hub: Hub, pushing: str, api: LoopbackAPI, clock: Clock) -> None:
    await Widget.create(title="Gizmo")
    # A worker claims the job and stops before finishing it (killed: its lease is all that is left).
    [claimed] = await queue.claim(hub, "worker-that-died", 10, lease=30.0, kinds=[PUSH_JOB])
    assert claimed.kind == PUSH_JOB
    assert await Worker(hub).drain() == 0  # leased: no other worker takes it yet
    clock.advance(31)
    await Worker(hub).drain()  # another worker takes it over once the lease expired
    assert [w["name"] for w in api.widgets] == ["Gizmo"]
    [job] = await push_jobs(hub)
    assert job.status == "done" and job.attempts == 2


async def test_a_clean_stop_gives_the_push_back(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    gate = api.hold_writes = asyncio.Event()
    await Widget.create(title="Gizmo")
    stop = asyncio.Event()
    first = Worker(hub, lease=30.0)
    running = asyncio.create_task(first.run(stop))
    await api.write_arrived.wait()
    stop.set()  # the worker finishes what it runs before it stops
    gate.set()
    await running
    await Worker(hub).drain()
    assert [w["name"] for w in api.widgets] == ["Gizmo"]
    assert [j.status for j in await push_jobs(hub)] == ["done"]


async def test_a_local_create_then_delete_sends_nothing(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    gizmo = await Widget.create(title="Gizmo")
    await Widget.delete(gizmo.id)
    await Worker(hub).drain()
    assert api.writes() == [] and await outbox_rows(hub) == []


async def test_directions_are_checked_at_connect_and_update(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    providers.register(Widgets())
    with pytest.raises(ValidationError) as refused:
        await connect(api, {"Owner": "both", "Widget": "sideways"})
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("directions.Owner", "not_pushable"),
        ("directions.Widget", "enum"),
    ]
    assert "Nouns it can push: Widget" in refused.value.message
    iid = await connect(api, {"Owner": "pull"})
    with pytest.raises(ValidationError) as bad_update:
        await Integration.update(iid, config={"directions": {"Owner": "push"}})
    assert bad_update.value.errors[0].code == "not_pushable"
    # Push only: the sync no longer pulls widgets; local ones are pushed.
    api.widgets.append({"id": "w1", "name": "Remote", "dims": {"w": 1}, "owner_id": None, "color": "x", "updated": 5})
    await Integration.update(iid, config={"directions": {"Widget": "push"}})
    await run_sync(hub, iid)
    assert await Widget.find(limit=10) == []
    await Widget.create(title="Local")
    assert len(await push_jobs(hub, "queued")) == 1


async def test_a_push_pending_when_its_integration_disconnects_fails_visibly(
    hub: Hub, pushing: str, api: LoopbackAPI
) -> None:
    await Widget.create(title="Gizmo")
    await Integration.disconnect(pushing)
    await Widget.create(title="After")  # a disconnected Integration pushes nothing new
    await Worker(hub).drain()
    [dead] = await push_jobs(hub)
    assert dead.status == "dead" and "Disconnected" in (dead.last_error or "")
    assert (await push_status(hub, pushing)).to_dict() == {"pending": 0, "failed": 1}
    assert api.writes() == []


async def test_a_change_synced_from_another_provider_is_pushed(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    """Only the pushing provider's own changes stay home: another provider's sync page goes out."""
    from hubwire.sync.upsert import Incoming, apply_page

    page = [Incoming("x1", {"title": "From elsewhere", "size": 2, "owner": None, "color": "red"})]
    await apply_page(hub, integration_id="integration_other", resource="thing", noun=Widget, items=page, source="other")
    mine = [Incoming("w1", {"title": "From widgets", "size": 2, "owner": None, "color": "red"})]
    await apply_page(hub, integration_id=pushing, resource="widget", noun=Widget, items=mine, source="widgets")
    await Worker(hub).drain()
    assert [(w["name"], w["color"]) for w in api.widgets] == [("From elsewhere", "red")]


async def test_two_workers_push_each_change_once(hub: Hub, pushing: str, api: LoopbackAPI) -> None:
    made = [await Widget.create(title=f"W{i}") for i in range(12)]
    for w in made[::2]:
        await Widget.update(w.id, color="red")
    await asyncio.gather(Worker(hub, concurrency=4).drain(), Worker(hub, concurrency=4).drain())
    assert sorted(w["name"] for w in api.widgets) == sorted(f"W{i}" for i in range(12))
    assert len([r for r in api.writes() if r.method == "POST"]) == 12
    assert {w["name"]: w["color"] for w in api.widgets if w["color"]} == {f"W{i}": "red" for i in range(0, 12, 2)}
    assert all(r.job_id is None for r in await outbox_rows(hub))
