"""Merges and the review queue against the Stripe simulator: local changes reach Stripe, resolutions
apply to both sides, the next sync sees nothing to do, and the audit trail says who, when and why.

A local edit that did not reach Stripe is made while the integration is disconnected (the
write-through writers only call Stripe while it is connected), as happens to edits made during
an outage of the connection.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import hubwire.conflicts
from hubwire.connectors.registry import ProviderContext
from hubwire.domains.billing import Customer
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ConflictError, HubwireError, ValidationError
from hubwire.hub import Hub
from hubwire.inbound.received import ReceivedHook
from hubwire.jobs import Worker
from hubwire.jobs.queue import list_jobs
from hubwire.net.http import HttpClient, use_http_client
from hubwire.push.outbox import MERGED, PUSH_JOB
from hubwire.simulators.stripe import StripeSimulator
from hubwire.store.events import EventRecord, read_after
from hubwire.sync.runs import list_runs
from hubwire.vault.credentials import load_credentials
from tests.api.conftest import rest_client
from tests.connectors.loopback import LOOPBACK

KEY = "sk_test_hubwire"


@pytest.fixture(autouse=True)
def loopback(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK))


async def linked(hub: Hub, sim: StripeSimulator, conflicts: dict[str, str] | None = None) -> tuple[str, str, str]:
    """A Stripe customer synced as a Customer: (integration id, entity id, Stripe id)."""
    cus = sim.seed("customer", email="ada@example.com", name="Ada", phone="+100")
    params: dict[str, Any] = {"conflicts": conflicts} if conflicts else {}
    integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=sim.url, **params)
    await run_sync(hub, integ.id)
    entity = (await Customer.find({"stripe_id": cus["id"]}))[0]
    return integ.id, entity.id, cus["id"]


async def offline_edit(iid: str, entity_id: str, **changes: Any) -> None:
    """A local edit Stripe does not get: made while the integration is disconnected, then reconnected."""
    await Integration.disconnect(iid)
    await Customer.update(entity_id, **changes)
    await Integration.connect(iid, api_key=KEY)


async def events_of(hub: Hub, name: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type == name]


async def quiet_sync(hub: Hub, iid: str) -> dict[str, int]:
    """Run a sync and return its Customer counts."""
    await run_sync(hub, iid)
    return dict((await list_runs(hub, iid))[0].counts.get("Customer") or {})


async def test_local_phone_and_remote_email_both_survive_and_the_phone_reaches_stripe(
    hub: Hub, stripe_sim: StripeSimulator
) -> None:
    iid, eid, sid = await linked(hub, stripe_sim)
    await offline_edit(iid, eid, phone="+200")
    stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    await run_sync(hub, iid)
    local = await Customer.get(eid)
    assert (local["phone"], local["email"]) == ("+200", "ada@work.example")
    assert await hubwire.conflicts.list() == []
    # The local-only change is owed to the push outbox (ONE sync.push job, though Stripe's Customer is
    # pulled only): the phone, and nothing else.
    [owed] = await list_jobs(hub, kind=PUSH_JOB)
    assert (owed.payload["verb"], owed.payload["entity_id"]) == (MERGED, eid)
    stripe_sim.requests.clear()
    await Worker(hub).drain()
    [push] = stripe_sim.requests_to("POST", f"/v1/customers/{sid}")
    assert b"phone=%2B200" in push.body and b"email" not in push.body
    assert stripe_sim.store["customer"][sid]["phone"] == "+200"
    # Its echo in Stripe's events feed is not a remote change; nothing else moved either.
    counts = await quiet_sync(hub, iid)
    assert (counts.get("updated", 0), counts.get("conflicts", 0)) == (0, 0)
    assert (await Customer.get(eid)).version == local.version


@pytest.mark.parametrize("how", ["local", "remote", "value"])
async def test_a_parked_conflict_is_resolved_on_both_sides(hub: Hub, stripe_sim: StripeSimulator, how: str) -> None:
    iid, eid, sid = await linked(hub, stripe_sim, {"default": "last_modified_wins", "Customer.email": "manual"})
    await offline_edit(iid, eid, email="ada@home.example", name="Ada L.")
    stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    await run_sync(hub, iid)
    assert (await Customer.get(eid))["email"] == "ada@home.example"  # parked: the entity keeps its value
    [conflict] = await hubwire.conflicts.list(status="open", noun="Customer", integration_id=iid)
    assert conflict.parked == ["email"]
    assert {k: conflict.fields["email"][k] for k in ("base", "local", "remote")} == {
        "base": "ada@example.com",
        "local": "ada@home.example",
        "remote": "ada@work.example",
    }
    await Worker(hub).drain()  # the name (local only) reaches Stripe; the parked email does not
    assert stripe_sim.store["customer"][sid]["name"] == "Ada L."
    assert stripe_sim.store["customer"][sid]["email"] == "ada@work.example"

    stripe_sim.requests.clear()
    if how == "value":
        done = await hubwire.conflicts.resolve(
            conflict.id, values={"email": "ada@both.example"}, reason="asked Ada", by="ops"
        )
        expected = "ada@both.example"
    else:
        done = await hubwire.conflicts.resolve(conflict.id, take=how, reason="asked Ada", by="ops")
        expected = "ada@home.example" if how == "local" else "ada@work.example"
    assert (done.status, done.resolved_by, done.reason) == ("resolved", "ops", "asked Ada")
    assert done.resolved_at is not None and done.fields["email"]["outcome"] == how
    assert done.fields["email"]["value"] == expected
    assert (await Customer.get(eid))["email"] == expected
    assert stripe_sim.store["customer"][sid]["email"] == expected
    # Stripe is written only where the outcome is not what it already holds.
    assert len(stripe_sim.requests_to("POST", f"/v1/customers/{sid}")) == (0 if how == "remote" else 1)
    [resolved] = await events_of(hub, "Conflict.Resolved")
    assert resolved.data["id"] == conflict.id and resolved.data["resolved_by"] == "ops"
    assert resolved.data["fields"]["email"]["value"] == expected
    # The ref's base moved with it: the next sync has nothing to do.
    version = (await Customer.get(eid)).version
    counts = await quiet_sync(hub, iid)
    assert (counts.get("updated", 0), counts.get("conflicts", 0)) == (0, 0)
    assert (await Customer.get(eid)).version == version
    assert [c.id for c in await hubwire.conflicts.list()] == [conflict.id]
    with pytest.raises(ConflictError) as again:
        await hubwire.conflicts.resolve(conflict.id, take="local")
    assert again.value.code == "conflict_resolved" and again.value.status == 409


async def test_a_resolution_stripe_refuses_changes_nothing(hub: Hub, stripe_sim: StripeSimulator) -> None:
    iid, eid, sid = await linked(hub, stripe_sim, {"default": "manual"})
    await offline_edit(iid, eid, email="ada@home.example")
    stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    await run_sync(hub, iid)
    [conflict] = await hubwire.conflicts.list()
    stripe_sim.fail_next(status=400)
    with pytest.raises(HubwireError) as err:
        await hubwire.conflicts.resolve(conflict.id, take="local")
    assert not err.value.retryable
    assert (await hubwire.conflicts.get(conflict.id)).status == "open"
    assert (await Customer.get(eid))["email"] == "ada@home.example"
    assert stripe_sim.store["customer"][sid]["email"] == "ada@work.example"
    # Once Stripe takes it, the same resolution goes through.
    done = await hubwire.conflicts.resolve(conflict.id, take="local")
    assert done.status == "resolved" and stripe_sim.store["customer"][sid]["email"] == "ada@home.example"


async def test_a_resolution_must_decide_every_open_field(hub: Hub, stripe_sim: StripeSimulator) -> None:
    iid, eid, sid = await linked(hub, stripe_sim, {"default": "manual"})
    await offline_edit(iid, eid, email="ada@home.example")
    stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    await run_sync(hub, iid)
    [conflict] = await hubwire.conflicts.list()
    with pytest.raises(ValidationError) as err:
        await hubwire.conflicts.resolve(conflict.id)
    assert err.value.errors[0].field == "take"
    with pytest.raises(ValidationError) as err:
        await hubwire.conflicts.resolve(conflict.id, values={"phone": "+1"})
    assert {e.field for e in err.value.errors} == {"values.phone", "take"}
    with pytest.raises(ValidationError):
        await hubwire.conflicts.resolve(conflict.id, take="both")
    assert (await hubwire.conflicts.get(conflict.id)).status == "open"


async def test_rest_lists_shows_and_resolves(hub: Hub, stripe_sim: StripeSimulator) -> None:
    iid, eid, sid = await linked(hub, stripe_sim, {"Customer": "manual"})
    await offline_edit(iid, eid, email="ada@home.example")
    stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    await run_sync(hub, iid)
    async with rest_client(hub) as client:
        listed = (await client.get("/v1/conflicts", params={"status": "open", "noun": "Customer"})).json()
        [row] = listed["data"]
        assert row["entity_id"] == eid and row["fields"]["email"]["remote"] == "ada@work.example"
        assert (await client.get("/v1/conflicts", params={"integration_id": "integration_none"})).json()["data"] == []
        assert (await client.get("/v1/conflicts", params={"status": "resolved"})).json()["data"] == []
        one = await client.get(f"/v1/conflicts/{row['id']}")
        assert one.status_code == 200 and one.json()["status"] == "open"
        missing = await client.get("/v1/conflicts/999999")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        bad = await client.post(f"/v1/conflicts/{row['id']}/resolve", json={"take": "mine"})
        assert bad.status_code == 422
        undecided = await client.post(f"/v1/conflicts/{row['id']}/resolve", json={"reason": "?"})
        assert undecided.status_code == 422 and undecided.json()["errors"][0]["field"] == "take"
        done = await client.post(f"/v1/conflicts/{row['id']}/resolve", json={"take": "local", "reason": "Ada said"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["resolved_by"], body["reason"]) == ("resolved", "tests", "Ada said")
        again = await client.post(f"/v1/conflicts/{row['id']}/resolve", json={"take": "remote"})
        assert again.status_code == 409 and again.json()["code"] == "conflict_resolved"
    assert stripe_sim.store["customer"][sid]["email"] == "ada@home.example"
    assert isinstance(client, httpx.AsyncClient)


async def test_a_webhook_is_merged_by_the_integrations_policies_as_a_sync_is(
    hub: Hub, stripe_sim: StripeSimulator
) -> None:
    """A remote change that arrives by webhook meets a local edit: the field merge follows the
    Integration's policies (the email parked for review), and the local-only name is owed to Stripe."""
    iid, eid, sid = await linked(hub, stripe_sim, {"default": "last_modified_wins", "Customer.email": "manual"})
    await offline_edit(iid, eid, email="ada@home.example", name="Ada L.")
    obj = stripe_sim.state.update("customer", sid, {"email": "ada@work.example"})
    event = {"id": "evt_merge", "type": "customer.updated", "created": int(time.time()), "data": {"object": obj}}
    integ = await Integration.get(iid)
    provider = hub.providers.get("stripe")
    ctx = ProviderContext(hub, provider, integ, await load_credentials(hub, iid), dict(integ.get("config") or {}))
    hook = ReceivedHook("hook_merge", iid, "stripe", "evt_merge", "customer.updated", event, {}, time.time())
    assert await provider.on_webhook(ctx, hook) == "applied"
    local = await Customer.get(eid)
    assert (local["email"], local["name"]) == ("ada@home.example", "Ada L.")  # parked: the entity keeps its value
    [conflict] = await hubwire.conflicts.list(status="open", noun="Customer", integration_id=iid)
    assert conflict.parked == ["email"] and conflict.fields["email"]["remote"] == "ada@work.example"
    [owed] = await list_jobs(hub, kind=PUSH_JOB)
    assert (owed.payload["verb"], owed.payload["entity_id"]) == (MERGED, eid)
