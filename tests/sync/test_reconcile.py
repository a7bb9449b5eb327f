"""Reconciliation: a full sync deletes what the provider no longer lists, through the pipeline,
within the deletion guard; incremental syncs never do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import HubwireError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.nouns.hooks import on
from hubwire.store.events import EventRecord, read_after
from hubwire.store.tables import external_refs
from hubwire.sync.runs import list_runs
from hubwire.sync.state import TOMBSTONE
from tests.connectors.loopback import TOKEN, LoopbackAPI
from tests.sync.widgets import Widget, Widgets


def seed(api: LoopbackAPI, widgets: int = 10) -> None:
    api.owners[:] = [{"id": "o0", "name": "Owner 0", "contact": {"email": "o0@x.io"}}]
    api.widgets[:] = [
        {"id": f"w{i}", "name": f"W{i}", "dims": {"w": i}, "owner_id": "o0", "color": "red", "updated": 100}
        for i in range(widgets)
    ]


@pytest.fixture
async def synced(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI) -> str:
    providers.register(Widgets())
    seed(api)
    integ = await Integration.connect(provider="widgets", token=TOKEN, api_base_url=api.url)
    await Worker(hub).drain()  # the initial sync
    assert len(await Widget.find(limit=100)) == 10
    return integ.id


async def events(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


async def refs(hub: Hub, resource: str) -> set[str]:
    async with hub.read() as conn:
        # A deleted remote object keeps a tombstone ref (hubwire.sync.state.TOMBSTONE), not a link.
        q = sa.select(external_refs.c.remote_id).where(
            external_refs.c.resource == resource, external_refs.c.hash != TOMBSTONE
        )
        return set((await conn.execute(q)).scalars())


def drop(api: LoopbackAPI, *ids: str) -> None:
    api.widgets[:] = [w for w in api.widgets if w["id"] not in ids]


async def test_an_incremental_sync_deletes_nothing(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    drop(api, "w3")
    await run_sync(hub, synced)
    assert len(await Widget.find(limit=100)) == 10 and await events(hub, "Widget.Deleted") == []


async def test_a_full_sync_deletes_what_is_gone_with_events_and_hooks(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    seen: list[str] = []
    Widget.deleted(lambda w: seen.append(w["title"]))
    subscribed: list[str] = []
    on("Widget.Deleted")(lambda w: subscribed.append(w.id))
    [w3] = await Widget.find({"title": "W3"})
    drop(api, "w3", "w7")  # 2 of 10: the guard's 20% exactly, which it lets through
    await run_sync(hub, synced, full=True)
    titles = sorted(w["title"] for w in await Widget.find(limit=100))
    assert titles == sorted(f"W{i}" for i in range(10) if i not in (3, 7))
    deleted = await events(hub, "Widget.Deleted")
    assert sorted(e.data["title"] for e in deleted) == ["W3", "W7"]
    assert {e.source for e in deleted} == {"widgets"} and w3.id in {e.entity_id for e in deleted}
    assert sorted(seen) == ["W3", "W7"] and w3.id in subscribed
    assert await refs(hub, "widget") == {f"w{i}" for i in range(10) if i not in (3, 7)}
    run = (await list_runs(hub, synced))[0]
    assert run.status == "succeeded" and run.full and run.summary is None
    assert run.counts["Widget"]["deleted"] == 2 and run.counts["Widget"]["unchanged"] == 8
    # The owners were all listed: nothing of theirs goes.
    assert await refs(hub, "owner") == {"o0"}


async def test_the_guard_holds_a_mass_deletion_back_until_confirmed(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    drop(api, "w1", "w2", "w3")  # 3 of 10
    integ = await Integration.sync(synced, wait=True, full=True)
    assert integ["status"] == "Synced"
    assert len(await Widget.find(limit=100)) == 10 and await events(hub, "Widget.Deleted") == []
    run = (await list_runs(hub, synced))[0]
    assert run.status == "held" and run.error is None
    assert run.summary is not None
    assert run.summary.startswith("3 of 10 Widgets (widget) would be deleted, more than the deletion guard's 20%")
    assert "run again with --confirm-deletions" in run.summary
    assert run.to_dict()["summary"] == run.summary
    [held] = await events(hub, "Sync.DeletionsHeld")
    assert held.entity_id == synced
    assert held.data["resources"] == [{"resource": "widget", "noun": "Widget", "would_delete": 3, "of": 10}]
    assert held.data["guard"] == 0.2 and held.data["run_id"] == run.id and held.data["message"] == run.summary

    await Integration.sync(synced, wait=True, confirm_deletions=True)  # implies a full run
    assert len(await Widget.find(limit=100)) == 7
    assert sorted(e.data["title"] for e in await events(hub, "Widget.Deleted")) == ["W1", "W2", "W3"]
    run = (await list_runs(hub, synced))[0]
    assert run.status == "succeeded" and run.full and run.counts["Widget"]["deleted"] == 3


async def test_the_guard_is_a_setting_and_an_integration_field(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    drop(api, "w1", "w2", "w3")
    await Integration.update(synced, delete_guard=0.5)
    await run_sync(hub, synced, full=True)
    assert len(await Widget.find(limit=100)) == 7
    drop(api, "w4", "w5")  # 2 of 7 remaining
    await Integration.update(synced, delete_guard=None)
    async with Hub(hub.settings.replace(sync_delete_guard=0.1), providers=hub.providers) as strict:
        await run_sync(strict, synced, full=True)
        assert (await list_runs(strict, synced))[0].status == "held"
    assert len(await Widget.find(limit=100)) == 7


async def test_a_bad_guard_is_refused(hub: Hub, synced: str) -> None:
    from hubwire.errors import ValidationError

    for bad in (1.5, -0.1, True):
        with pytest.raises(ValidationError) as err:
            await Integration.update(synced, delete_guard=bad)
        assert err.value.errors[0].field in ("delete_guard", "deleteGuard")


async def test_a_failed_full_pull_deletes_nothing(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    drop(api, "w1")
    api.fail_paths["/widgets"] = 404
    with pytest.raises(HubwireError):
        await run_sync(hub, synced, full=True)
    del api.fail_paths["/widgets"]
    assert len(await Widget.find(limit=100)) == 10
    assert (await list_runs(hub, synced))[0].status == "failed"


async def test_an_entity_deleted_locally_only_loses_its_ref(hub: Hub, synced: str, api: LoopbackAPI) -> None:
    [w1] = await Widget.find({"title": "W1"})
    await Widget.delete(w1.id)
    drop(api, "w1")
    await run_sync(hub, synced, full=True)
    assert "w1" not in await refs(hub, "widget")
    assert len(await events(hub, "Widget.Deleted")) == 1  # the local delete's, none from the sync


async def test_a_ref_written_while_the_run_listed_is_not_swept(hub: Hub, synced: str) -> None:
    """A webhook may link a new object after the listing passed it: written since the run started,
    its ref is not taken for gone."""
    from hubwire.sync.reconcile import sweep
    from hubwire.sync.runs import SyncRun
    from hubwire.sync.upsert import Incoming, apply_page

    run = SyncRun("syncrun_test", synced, "running", True, hub.clock())
    run.saw("widget", [f"w{i}" for i in range(1, 10)])  # w0 gone; w99 not listed
    fields = {"title": "W99", "size": 1, "color": "red"}
    await apply_page(
        hub, integration_id=synced, resource="widget", noun=Widget, items=[Incoming("w99", fields)], source="widgets"
    )
    done = await sweep(hub, run, source="widgets", guard=1.0, confirm=False)
    assert done.deleted == {"Widget": 1} and done.held == []
    assert await refs(hub, "widget") == {f"w{i}" for i in range(1, 10)} | {"w99"}
