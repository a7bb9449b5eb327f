"""Field-level merges in the sync apply path, through a spec provider on loopback (no push endpoint).

Local edits and provider edits to different fields both survive; the same field changed on both
sides is decided by the Integration's policy or parked for review, recorded with its events in
the page's transaction; a parked field stays parked across syncs; policies are checked at
connect and update.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import hubwire.conflicts
from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.store.events import EventRecord, read_after
from hubwire.sync.runs import list_runs
from tests.connectors.loopback import TOKEN, LoopbackAPI
from tests.sync.test_engine import seed
from tests.sync.widgets import Widget, Widgets
from tests.webhooks.conftest import Receiver, receiver  # noqa: F401  (the receiver fixture)

LATER = 4_000_000_000  # a remote updated-at after any local change


async def connect(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI, conflicts: Any = None) -> str:
    providers.register(Widgets())
    seed(api)
    params: dict[str, Any] = {"conflicts": conflicts} if conflicts is not None else {}
    integ = await Integration.connect(provider="widgets", token=TOKEN, api_base_url=api.url, **params)
    await run_sync(hub, integ.id)
    return integ.id


def remote_edit(api: LoopbackAPI, i: int, **changes: Any) -> None:
    api.widgets[i] = {**api.widgets[i], **changes, "updated": changes.pop("updated", LATER)}


async def events_of(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


async def widget(title: str) -> Any:
    return (await Widget.find({"title": title}))[0]


async def test_changes_to_different_fields_on_each_side_both_survive(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    iid = await connect(hub, providers, api)
    w1 = await widget("W1")
    await Widget.update(w1.id, size=42)  # local
    remote_edit(api, 1, color="blue")  # remote
    await run_sync(hub, iid)
    after = await Widget.get(w1.id)
    assert (after["size"], after["color"]) == (42, "blue")
    run = (await list_runs(hub, iid))[0]
    assert (run.counts["Widget"]["updated"], run.counts["Widget"]["conflicts"]) == (1, 0)
    assert await hubwire.conflicts.list() == []
    # The next sync sees nothing new on either side: the local size stays, nothing is recorded.
    await run_sync(hub, iid, full=True)
    assert (await Widget.get(w1.id))["size"] == 42
    assert (await list_runs(hub, iid))[0].counts["Widget"]["conflicts"] == 0


@pytest.mark.parametrize(
    ("policy", "remote_updated", "color", "status", "outcome"),
    [
        ("last_modified_wins", LATER, "blue", "resolved", "remote"),
        ("last_modified_wins", 100, "green", "resolved", "local"),
        ("provider", 100, "blue", "resolved", "remote"),
        ("local", LATER, "green", "resolved", "local"),
        ("manual", LATER, "green", "open", None),
    ],
)
async def test_the_same_field_changed_on_both_sides_follows_the_policy(
    hub: Hub,
    providers: ProviderRegistry,
    api: LoopbackAPI,
    policy: str,
    remote_updated: int,
    color: str,
    status: str,
    outcome: str | None,
) -> None:
    iid = await connect(hub, providers, api, {"default": policy})
    w2 = await widget("W2")
    await Widget.update(w2.id, color="green")
    remote_edit(api, 2, color="blue", updated=remote_updated)
    remote_edit(api, 3, name="W3 renamed")  # the rest of the page syncs as usual
    await run_sync(hub, iid)
    assert (await Widget.get(w2.id))["color"] == color
    assert (await widget("W3 renamed"))["size"] == 6
    [conflict] = await hubwire.conflicts.list(integration_id=iid)
    assert (conflict.status, conflict.entity_id, conflict.entity_type, conflict.remote_id) == (
        status,
        w2.id,
        "Widget",
        "w2",
    )
    field = conflict.fields["color"]
    assert (field["base"], field["local"], field["remote"], field["policy"], field["outcome"]) == (
        "red",
        "green",
        "blue",
        policy,
        outcome,
    )
    assert conflict.resolved_by == (None if outcome is None else "system")
    assert (conflict.resolved_at is None) == (outcome is None)
    assert (await list_runs(hub, iid))[0].counts["Widget"]["conflicts"] == 1
    detected = await events_of(hub, "Conflict.Detected")
    assert len(detected) == 1 and detected[0].entity_id == w2.id and detected[0].data["id"] == conflict.id
    assert detected[0].data["fields"]["color"]["remote"] == "blue"
    assert len(await events_of(hub, "Conflict.Resolved")) == (0 if outcome is None else 1)


async def test_a_parked_field_stays_parked_across_syncs_and_in_one_open_conflict(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    iid = await connect(hub, providers, api, {"default": "last_modified_wins", "Widget.color": "manual"})
    w4 = await widget("W4")
    await Widget.update(w4.id, color="green")
    remote_edit(api, 4, color="blue")
    await run_sync(hub, iid)
    [first] = await hubwire.conflicts.list(status="open")
    # Nothing changed anywhere: no second conflict, the local value kept.
    await run_sync(hub, iid, full=True)
    # The provider changes the parked field again and another one: the open conflict shows the new
    # remote value, the other field follows the provider, the parked one keeps the local value.
    remote_edit(api, 4, color="black", name="W4 renamed")
    await run_sync(hub, iid)
    after = await Widget.get(w4.id)
    assert (after["color"], after["title"]) == ("green", "W4 renamed")
    [again] = await hubwire.conflicts.list(integration_id=iid)
    assert again.id == first.id and again.status == "open" and again.fields["color"]["remote"] == "black"
    assert len(await events_of(hub, "Conflict.Detected")) == 1
    # Resolved by hand (this provider cannot take writes: the local value stays local).
    done = await hubwire.conflicts.resolve(first.id, take="remote", reason="the provider is right", by="ops")
    assert (done.status, done.resolved_by, done.reason) == ("resolved", "ops", "the provider is right")
    assert (await Widget.get(w4.id))["color"] == "black"
    await run_sync(hub, iid, full=True)
    assert (await Widget.get(w4.id))["color"] == "black"
    assert [c.id for c in await hubwire.conflicts.list()] == [first.id]


async def test_policies_are_checked_at_connect_and_update(
    hub: Hub, providers: ProviderRegistry, api: LoopbackAPI
) -> None:
    providers.register(Widgets())
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="widgets", token=TOKEN, api_base_url=api.url, conflicts={"Widget": "newest"})
    assert err.value.errors[0].field == "conflicts.Widget" and err.value.errors[0].code == "invalid_policy"
    assert await Integration.find({"provider": "widgets"}) == []
    integ = await Integration.connect(
        provider="widgets", token=TOKEN, api_base_url=api.url, conflicts={"Widget.color": "manual"}
    )
    assert integ["config"]["conflicts"] == {"Widget.color": "manual"}
    with pytest.raises(ValidationError) as err:
        await Integration.update(integ.id, config={**integ["config"], "conflicts": {"Widget.colour": "manual"}})
    assert err.value.errors[0].field == "config.conflicts.Widget.colour"
    updated = await Integration.update(integ.id, config={**integ["config"], "conflicts": {"default": "provider"}})
    assert updated["config"]["conflicts"] == {"default": "provider"}


async def test_a_webhook_endpoint_receives_conflict_detected(
    hub: Hub,
    providers: ProviderRegistry,
    api: LoopbackAPI,
    receiver: Receiver,  # noqa: F811
) -> None:
    endpoint = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Conflict.*"])
    iid = await connect(hub, providers, api, {"default": "manual"})
    w5 = await widget("W5")
    await Widget.update(w5.id, color="green")
    remote_edit(api, 5, color="blue")
    await run_sync(hub, iid)
    await Worker(hub).drain()
    bodies = [json.loads(r.body) for r in receiver.on("/ok")]
    assert [b["event"] for b in bodies] == ["Conflict.Detected"]
    data = bodies[0]["data"]
    assert data["entity_id"] == w5.id and data["status"] == "open" and data["fields"]["color"]["local"] == "green"
    assert endpoint["status"] == "Connected"
