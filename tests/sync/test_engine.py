"""The sync engine through a spec-declared provider on loopback: initial, idempotent, incremental,
resumable after a crash, conflicts, runs and their counts, no overlapping runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from hubwire.connectors.registry import ProviderContext, ProviderRegistry, SyncProgress
from hubwire.connectors.runtime import Connection
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ConflictError, ProviderUnavailable
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.nouns.hooks import on
from hubwire.store.events import EventRecord, read_after
from hubwire.store.tables import conflicts
from hubwire.sync.engine import Batch, Stream
from hubwire.sync.runs import list_runs, start_run
from hubwire.sync.state import load_cursor
from hubwire.sync.upsert import Incoming
from tests.connectors.loopback import LOOPBACK, TOKEN, LoopbackAPI
from tests.sync.widgets import Owner, Widget, Widgets


def seed(api: LoopbackAPI, owners: int = 2, widgets: int = 7) -> None:
    api.owners[:] = [{"id": f"o{i}", "name": f"Owner {i}", "contact": {"email": f"o{i}@x.io"}} for i in range(owners)]
    api.widgets[:] = [
        {"id": f"w{i}", "name": f"W{i}", "dims": {"w": i}, "owner_id": f"o{i % owners}", "color": "red", "updated": 100}
        for i in range(widgets)
    ]


@pytest.fixture
async def connected(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI) -> str:
    providers.register(Widgets())
    seed(api)
    integ = await Integration.connect(provider="widgets", token=TOKEN, api_base_url=api.url)
    assert integ["config"]["account"] == {"login": "octo"}
    return integ.id


async def events_of(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


async def test_initial_sync_maps_fields_and_relations(hub: Hub, connected: str, api: LoopbackAPI) -> None:
    await Worker(hub).drain()  # connect enqueued the initial sync
    integ = await Integration.get(connected)
    assert integ["status"] == "Synced" and integ["last_sync_count"] == 9
    widgets = {w["title"]: w for w in await Widget.find(limit=100)}
    owners = {o["name"]: o for o in await Owner.find(limit=100)}
    assert len(widgets) == 7 and len(owners) == 2
    assert widgets["W3"]["size"] == 6
    assert widgets["W3"]["owner"] == owners["Owner 1"].id
    assert owners["Owner 0"]["email"] == "o0@x.io"
    created = await events_of(hub, "Widget.Created")
    assert len(created) == 7 and {e.source for e in created} == {"widgets"}
    # Pages of 3: owners 1 page, widgets 3 pages.
    assert api.paths("/widgets").count("/widgets") == 3
    runs = await list_runs(hub, connected)
    assert len(runs) == 1 and runs[0].status == "succeeded"
    assert runs[0].counts["Widget"]["created"] == 7 and runs[0].counts["Owner"]["created"] == 2
    assert runs[0].records == 9 and runs[0].duration is not None


async def test_rerun_changes_nothing(hub: Hub, connected: str) -> None:
    await run_sync(hub, connected, full=True)
    before = await events_of(hub, "Widget.")
    await run_sync(hub, connected, full=True)
    assert await events_of(hub, "Widget.") == before
    run = (await list_runs(hub, connected))[0]
    assert run.counts["Widget"]["unchanged"] == 7 and run.counts["Widget"]["updated"] == 0


async def test_incremental_sync_asks_since_and_updates(hub: Hub, connected: str, api: LoopbackAPI) -> None:
    await run_sync(hub, connected)
    api.widgets[2] = {**api.widgets[2], "color": "blue", "updated": 200}
    api.widgets.append({"id": "w9", "name": "W9", "dims": {"w": 1}, "owner_id": "o0", "color": "x", "updated": 201})
    api.requests.clear()
    await run_sync(hub, connected)
    widget_calls = [r for r in api.requests if r.path == "/widgets"]
    assert widget_calls and all(r.query.get("since") == "100" for r in widget_calls)
    assert len(await Widget.find(limit=100)) == 8
    blue = await Widget.find({"color": "blue"})
    assert [w["title"] for w in blue] == ["W2"]
    updated = await events_of(hub, "Widget.Updated")
    assert len(updated) == 1 and updated[0].data["color"] == "blue"
    run = (await list_runs(hub, connected))[0]
    assert run.counts["Widget"] == {
        "created": 1,
        "updated": 1,
        "unchanged": 6,
        "deleted": 0,
        "failed": 0,
        "conflicts": 0,
    }


async def test_repeated_incremental_syncs_follow_the_remote_without_conflicts(
    hub: Hub, connected: str, api: LoopbackAPI
) -> None:
    """Each sync's ref must record the version it wrote: else the next sync takes its own write for
    a local change and records a conflict."""
    await run_sync(hub, connected)
    for updated, color in ((200, "blue"), (300, "green"), (400, "violet")):
        api.widgets[2] = {**api.widgets[2], "color": color, "updated": updated}
        await run_sync(hub, connected)
        [w2] = await Widget.find({"title": "W2"})
        assert w2["color"] == color
        run = (await list_runs(hub, connected))[0]
        assert (run.counts["Widget"]["updated"], run.counts["Widget"]["conflicts"]) == (1, 0)
    assert w2.version == 4
    async with hub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(conflicts))).scalar_one() == 0
    assert [e.data["color"] for e in await events_of(hub, "Widget.Updated")] == ["blue", "green", "violet"]


async def test_crash_mid_sync_resumes_from_the_last_durable_page(hub: Hub, connected: str, api: LoopbackAPI) -> None:
    # Owners (1 page) and widgets page 1 pass; page 2 fails on every attempt of the HTTP layer.
    attempts = 4
    api.faults += [(0, {}, 0.0)] * 2 + [(503, {}, 0.0)] * attempts

    async def no_sleep(_: float) -> None:
        return None

    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=attempts)))
    with pytest.raises(ProviderUnavailable):
        await run_sync(hub, connected)
    assert len(await Widget.find(limit=100)) == 3  # page 1 only
    state = await load_cursor(hub, connected, "widget")
    assert state["page"] == {"page": 2}
    integ = await Integration.get(connected)
    assert integ["status"] == "Connected" and "sync failed" in integ["error"]
    failed = (await list_runs(hub, connected))[0]
    assert failed.status == "failed" and "503" in (failed.error or "")
    assert failed.counts["Widget"]["created"] == 3
    errored = await events_of(hub, "Integration.Errored")
    assert len(errored) == 1
    # The next run starts at page 2: page 1 is not fetched again, nothing is duplicated.
    api.requests.clear()
    await run_sync(hub, connected)
    assert [r.query.get("page") for r in api.requests if r.path == "/widgets"] == ["2", "3"]
    assert len(await Widget.find(limit=100)) == 7
    assert len(await events_of(hub, "Widget.Created")) == 7
    assert (await Integration.get(connected))["status"] == "Synced"


class Held(Widgets):
    """Widgets whose first sync waits, after its run has started, until the test lets it go on."""

    slug = "held"
    name = "Held"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        if not self.started.is_set():
            self.started.set()
            await self.go_on.wait()
        return await super().sync(ctx, progress)


async def test_no_two_runs_of_one_integration_overlap(
    hub: Hub, connected: str, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    await start_run(hub, connected)
    with pytest.raises(ConflictError) as err:
        await run_sync(hub, connected)
    assert err.value.code == "sync_running"
    # A second run that starts while the first is held inside its sync is refused; the first goes on.
    held = Held()
    providers.register(held)
    other = await Integration.connect(provider="held", token=TOKEN, api_base_url=api.url)
    first = asyncio.create_task(run_sync(hub, other.id))
    try:
        await asyncio.wait_for(held.started.wait(), 30)
        with pytest.raises(ConflictError) as err:
            await run_sync(hub, other.id)
        assert err.value.code == "sync_running"
    finally:
        held.go_on.set()
    assert (await first)["status"] == "Synced"
    assert [r.status for r in await list_runs(hub, other.id)] == ["succeeded"]


async def test_local_change_then_remote_change_is_a_recorded_conflict(
    hub: Hub, connected: str, api: LoopbackAPI
) -> None:
    await run_sync(hub, connected)
    w0 = (await Widget.find({"title": "W0"}))[0]
    await Widget.update(w0.id, color="green")  # local change (source api)
    api.widgets[0] = {**api.widgets[0], "color": "black", "updated": 4_000_000_000}  # newer remotely
    await run_sync(hub, connected)
    assert (await Widget.get(w0.id))["color"] == "black"
    async with hub.read() as conn:
        rows = (await conn.execute(sa.select(conflicts))).all()
    assert len(rows) == 1 and rows[0].winner == "remote" and rows[0].local["color"] == "green"
    # A remote state older than the one already applied is stale, not a conflict: it never moves the
    # entity back in time, and the newer local change stays.
    await Widget.update(w0.id, color="white")
    api.widgets[0] = {**api.widgets[0], "color": "grey", "updated": 4_000_000_001 - 4_000_000_000 + 100}
    await run_sync(hub, connected, full=True)
    assert (await Widget.get(w0.id))["color"] == "white"
    async with hub.read() as conn:
        winners = [r.winner for r in (await conn.execute(sa.select(conflicts).order_by(conflicts.c.id))).all()]
    assert winners == ["remote"]


class Scripted(Widgets):
    """Widgets whose pages are given by the test: each a list of (remote id, title); the cursor is the page index."""

    slug = "scripted"
    name = "Scripted"

    def __init__(self, script: list[list[tuple[str, str]]]) -> None:
        self.script = script

    def streams(self, ctx: ProviderContext, conn: Connection) -> list[Stream]:
        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            for i in range(int(state.get("page", 0)), len(self.script)):
                items = [Incoming(rid, {"title": title}) for rid, title in self.script[i]]
                yield Batch(items, {"page": i + 1})

        return [Stream("widget", Widget, pages)]


async def scripted(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI, script: list[list[tuple[str, str]]]) -> str:
    providers.register(Scripted(script))
    integ = await Integration.connect(provider="scripted", token=TOKEN, api_base_url=api.url)
    return integ.id


async def test_a_page_repeating_the_previous_pages_record_updates_it(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    # The next page is planned while the previous one is written: one that shares a record with it
    # is planned again after that commit, so w1 is updated, not created twice.
    iid = await scripted(hub, providers, api, [[("w1", "A")], [("w1", "B"), ("w2", "C")], [("w3", "D")]])
    await run_sync(hub, iid)
    assert sorted(w["title"] for w in await Widget.find(limit=100)) == ["B", "C", "D"]
    assert len(await events_of(hub, "Widget.Created")) == 3
    assert len(await events_of(hub, "Widget.Updated")) == 1
    run = (await list_runs(hub, iid))[0]
    assert run.counts["Widget"]["created"] == 3 and run.counts["Widget"]["updated"] == 1 and run.records == 4
    state = await load_cursor(hub, iid, "widget")
    assert state == {"page": 3}


async def test_before_hooks_see_every_earlier_page_committed(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    iid = await scripted(hub, providers, api, [[(f"w{i}", f"W{i}")] for i in range(5)])
    counts: list[int] = []

    @Widget.creating
    async def count_before(widget: Any) -> None:
        counts.append(await Widget.count())

    await run_sync(hub, iid)
    assert counts == [0, 1, 2, 3, 4]


async def test_values_round_trip_through_the_page_statements(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    # A page's entities, events and refs are written from one JSON document per statement.
    tricky = 'Zoë ☃ "quoted" \\ back\nslash / \U0001f600'
    iid = await scripted(hub, providers, api, [[("w1", tricky), ("w2", "plain")]])
    await run_sync(hub, iid)
    (w1,) = await Widget.find({"title": tricky})
    assert w1["title"] == tricky and w1.version == 1
    (created,) = [e for e in await events_of(hub, "Widget.Created") if e.entity_id == w1.id]
    assert created.data == dict(w1) and created.data["title"] == tricky
    # The refs carry the hash: a re-run finds both unchanged.
    await run_sync(hub, iid, full=True)
    run = (await list_runs(hub, iid))[0]
    assert run.counts["Widget"]["unchanged"] == 2 and run.counts["Widget"]["created"] == 0


async def test_an_entity_changed_between_plan_and_write_is_planned_again(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    provider = Scripted([[("w1", "A"), ("w2", "B")]])
    providers.register(provider)
    iid = (await Integration.connect(provider="scripted", token=TOKEN, api_base_url=api.url)).id
    await run_sync(hub, iid)
    provider.script = [[("w1", "A2"), ("w2", "B2")]]
    bumped: list[str] = []

    @Widget.updating
    async def change_it_meanwhile(widget: Any) -> None:
        if widget["title"] == "B2" and not bumped:
            bumped.append(widget.id)
            await Widget.update(widget.id, color="local")

    # The page's write finds w2 moved (another writer, as a webhook's apply would): the page is
    # planned again from what is stored now, merges the local change field by field, and is written.
    await run_sync(hub, iid, full=True)
    titles = {w["title"]: w for w in await Widget.find(limit=100)}
    assert set(titles) == {"A2", "B2"} and bumped
    assert (titles["B2"].id, titles["B2"]["color"]) == (bumped[0], "local")  # both sides' changes kept
    async with hub.read() as conn:
        rows = (await conn.execute(sa.select(conflicts))).all()
    assert rows == []  # different fields: no clash


async def test_after_hooks_and_subscribers_run_once_per_synced_change(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    provider = Scripted([[("w1", "A"), ("w2", "B")], [("w3", "C")]])
    providers.register(provider)
    iid = (await Integration.connect(provider="scripted", token=TOKEN, api_base_url=api.url)).id
    seen: list[tuple[str, str, int]] = []

    @on("Widget.*")
    async def subscriber(widget: Any, ctx: Any) -> None:
        seen.append((ctx.event.type, widget["title"], ctx.event.seq))

    updated: list[str] = []

    @Widget.updated
    async def after_update(widget: Any) -> None:
        updated.append(widget["title"])

    await run_sync(hub, iid)
    assert sorted(t for _, t, _ in seen) == ["A", "B", "C"] and {e for e, _, _ in seen} == {"Widget.Created"}
    provider.script = [[("w1", "A"), ("w2", "B2")], [("w3", "C")]]
    await run_sync(hub, iid, full=True)
    assert updated == ["B2"] and seen[-1][:2] == ("Widget.Updated", "B2")


async def test_consecutive_pages_share_a_transaction_up_to_the_group_size(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hubwire.sync.engine as engine

    monkeypatch.setattr(engine, "GROUP_RECORDS", 4)
    written: list[list[str]] = []
    write = engine.write_page

    async def counting(hub_: Hub, plan: Any) -> Any:
        written.append([rid for _, rid in plan.keys])
        return await write(hub_, plan)

    monkeypatch.setattr(engine, "write_page", counting)
    # 2 + 2 join; w2 again cannot join the group holding it; 1 + 4 would exceed 4.
    script = [
        [("w0", "A"), ("w1", "B")],
        [("w2", "C"), ("w3", "D")],
        [("w2", "C2")],
        [("w4", "E"), ("w5", "F"), ("w6", "G"), ("w7", "H")],
    ]
    iid = await scripted(hub, providers, api, script)
    await run_sync(hub, iid)
    assert [sorted(g) for g in written] == [["w0", "w1", "w2", "w3"], ["w2"], ["w4", "w5", "w6", "w7"]]
    assert len(await Widget.find(limit=100)) == 8
    assert len(await events_of(hub, "Widget.Created")) == 8 and len(await events_of(hub, "Widget.Updated")) == 1
    run = (await list_runs(hub, iid))[0]
    assert run.counts["Widget"]["created"] == 8 and run.counts["Widget"]["updated"] == 1 and run.records == 9
    state = await load_cursor(hub, iid, "widget")
    assert state == {"page": 4}


async def test_a_sync_keeps_older_objects_out_of_the_collector_and_gives_them_back(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import weakref

    import hubwire.sync.engine as engine

    class Node:
        ref: Any = None

    frozen_while_writing: list[int] = []
    write = engine.write_page

    async def observing(hub_: Hub, plan: Any) -> Any:
        frozen_while_writing.append(gc.get_freeze_count())
        return await write(hub_, plan)

    monkeypatch.setattr(engine, "write_page", observing)
    iid = await scripted(hub, providers, api, [[("w0", "A")], [("w1", "B")]])
    assert gc.get_freeze_count() == 0
    cycle = Node()
    cycle.ref = cycle  # cyclic garbage made before the sync: frozen with the rest while it runs
    gone = weakref.ref(cycle)
    del cycle
    await run_sync(hub, iid)
    assert frozen_while_writing and all(n > 0 for n in frozen_while_writing)
    assert gc.get_freeze_count() == 0  # given back once the sync ended
    gc.collect()
    assert gone() is None
    assert len(await Widget.find(limit=100)) == 2

    # A process that froze objects itself keeps them frozen: the sync neither adds nor takes back.
    gc.freeze()
    try:
        frozen_while_writing.clear()
        await run_sync(hub, iid, full=True)
        assert frozen_while_writing and all(n > 0 for n in frozen_while_writing)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
