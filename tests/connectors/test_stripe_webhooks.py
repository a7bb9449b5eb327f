"""Stripe webhooks end to end: connect registers an endpoint at the simulator, the simulator posts
signed events to a loopback receiver, they are verified and applied as a sync applies records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubwire.connectors.registration import NO_PUBLIC_URL
from hubwire.connectors.stripe.webhooks import ENABLED_EVENTS
from hubwire.domains.billing import Customer, Invoice, Payment, Subscription
from hubwire.domains.platform import Integration, run_sync
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.stripe import StripeSimulator
from hubwire.store.events import EventRecord, read_after
from hubwire.vault.credentials import load_credentials
from tests.connectors.hooks import HookReceiver, hook_receiver
from tests.connectors.loopback import LOOPBACK
from tests.fakes import FakeClock
from tests.simulators.stripe_fixtures import checked_stripe_simulator

KEY = "sk_test_hubwire"
MONTHLY = {"interval": "month", "interval_count": 1, "usage_type": "licensed", "aggregate_usage": None}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
async def receiver(hub: Hub) -> AsyncIterator[HookReceiver]:
    async with hook_receiver() as rec:
        hub.settings = hub.settings.replace(public_url=rec.base)
        yield rec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[StripeSimulator]:
    """A Stripe simulator whose objects and events are stamped by ``clock``."""
    async with checked_stripe_simulator(now=clock) as s:
        yield s


async def events(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


async def connect(sim: StripeSimulator) -> str:
    return (await Integration.connect(provider="stripe", api_key=KEY, api_base_url=sim.url)).id


async def arrived(sim: StripeSimulator, rec: HookReceiver, hub: Hub, iid: str) -> list[str]:
    await sim.sender.idle()
    return await rec.apply_new(hub, iid)


async def test_connect_registers_an_endpoint_and_disconnect_removes_it(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver
) -> None:
    iid = await connect(sim)
    integ = await Integration.get(iid)
    assert integ["webhooks"] == f"registered: {receiver.url(iid)}"
    (endpoint,) = sim.webhooks.endpoints.values()
    assert endpoint["url"] == receiver.url(iid) and set(endpoint["enabled_events"]) == set(ENABLED_EVENTS)
    creds = await load_credentials(hub, iid)
    secret = sim.webhooks.secret(endpoint["id"])
    assert secret.startswith("whsec_") and creds["webhook_secret"] == secret
    assert secret not in str(dict(integ)) and secret not in str([e.data for e in await events(hub, "Integration.")])
    await Integration.disconnect(iid)
    assert sim.webhooks.endpoints == {}
    assert (await Integration.get(iid))["webhooks"] is None
    # Reconnecting registers anew (and a reconnect replaces the endpoint rather than adding one).
    await connect(sim)
    await connect(sim)
    assert [e["url"] for e in sim.webhooks.endpoints.values()] == [receiver.url(iid)]


async def test_without_a_public_url_the_integration_says_it_polls(hub: Hub, sim: StripeSimulator) -> None:
    iid = await connect(sim)
    assert (await Integration.get(iid))["webhooks"] == NO_PUBLIC_URL == "polling: HUBWIRE_PUBLIC_URL is not set"
    assert sim.webhooks.endpoints == {}
    assert "webhook_secret" not in await load_credentials(hub, iid)


def seed(sim: StripeSimulator) -> dict[str, Any]:
    prod = sim.seed("product", name="Pro")
    price = sim.seed("price", product=prod["id"], unit_amount=2000, currency="usd", type="recurring", recurring=MONTHLY)
    cus = sim.seed("customer", email="ada@example.com", name="Ada")
    sub = sim.seed("subscription", customer=cus["id"], items=[{"price": price["id"], "quantity": 1}])
    return {"product": prod, "price": price, "customer": cus, "sub": sub}


async def test_events_apply_through_the_sync_mapping_and_fire_the_verbs(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    s = seed(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    cancelled: list[str] = []
    Subscription.cancelled(lambda sub: cancelled.append(sub.id))
    clock.advance(5)
    sim.update("customer", s["customer"]["id"], name="Ada Lovelace")
    assert await arrived(sim, receiver, hub, iid) == ["applied"]
    cus = (await Customer.find({"stripe_id": s["customer"]["id"]}))[0]
    assert cus["name"] == "Ada Lovelace" and cus.version == 2
    assert [e.source for e in await events(hub, "Customer.Updated")] == ["stripe"]
    # Canceled at Stripe: the subscription stays, Cancelled, and the seed's cancelled hooks run once.
    clock.advance(5)
    sim.delete("subscription", s["sub"]["id"])
    assert await arrived(sim, receiver, hub, iid) == ["applied"]
    sub = (await Subscription.find({"stripe_id": s["sub"]["id"]}))[0]
    assert sub["status"] == "Cancelled" and cancelled == [sub.id]
    assert [e.source for e in await events(hub, "Subscription.Cancelled")] == ["stripe"]
    # A new customer arrives by its created event; a deleted one is deleted here.
    clock.advance(5)
    made = sim.state.create("customer", {"email": "grace@example.com"})
    sim.state.delete("customer", s["customer"]["id"])
    assert await arrived(sim, receiver, hub, iid) == ["applied", "applied"]
    assert [c["email"] for c in await Customer.find({})] == ["grace@example.com"]
    assert (await Customer.find({}))[0]["stripe_id"] == made["id"]
    # Events the connector does not follow are acknowledged and ignored.
    sim.state.create("charge", {"amount": 100, "currency": "usd"})
    assert await arrived(sim, receiver, hub, iid) == []  # not among the endpoint's enabled events


async def test_an_older_event_never_moves_back_and_a_duplicate_applies_once(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    iid = await connect(sim)
    cus = sim.state.create("customer", {"email": "a@example.com", "name": "First"})
    clock.advance(10)
    sim.update("customer", cus["id"], name="Second")
    clock.advance(10)
    sim.update("customer", cus["id"], name="Third")
    await sim.sender.idle()
    created, second, third = receiver.to(iid)
    # Delivered out of order: the newest first, then the older ones, then the newest again.
    for delivery in (third, created, second, third):
        assert await receiver.apply(hub, iid, delivery) == "applied"
    (local,) = await Customer.find({})
    assert local["name"] == "Third" and local.version == 1
    assert len(await events(hub, "Customer.")) == 1  # one Created, nothing after
    # Deleted at Stripe, then an update older than the deletion arrives late: it stays deleted.
    clock.advance(10)
    sim.state.delete("customer", cus["id"])
    await sim.sender.idle()
    deleted = receiver.to(iid)[-1]
    assert deleted.json()["type"] == "customer.deleted"
    await receiver.apply(hub, iid, deleted)
    await receiver.apply(hub, iid, second)
    assert await Customer.find({}) == []


async def test_a_webhook_and_a_running_sync_on_the_same_objects_end_consistent(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    iid = await connect(sim)
    await Worker(hub).drain()
    for round_ in range(4):
        clock.advance(10)
        made = sim.state.create("customer", {"email": f"race{round_}@example.com"})
        clock.advance(10)
        sim.update("customer", made["id"], name=f"Racer {round_}")
        await sim.sender.idle()
        mine = receiver.to(iid)[-2:]
        deliveries = mine if round_ % 2 else list(reversed(mine))

        async def webhooks(deliveries: list[Any] = deliveries) -> None:
            for d in deliveries:
                await receiver.apply(hub, iid, d)
                await asyncio.sleep(0)

        await asyncio.gather(run_sync(hub, iid, full=round_ % 2 == 0), webhooks())
        found = await Customer.find({"stripe_id": made["id"]})
        assert len(found) == 1 and found[0]["name"] == f"Racer {round_}"
    assert await Customer.count() == 4


async def test_a_sync_that_sees_a_subscription_canceled_at_stripe_fires_cancelled_once(
    hub: Hub, sim: StripeSimulator, clock: FakeClock
) -> None:
    s = seed(sim)
    iid = await connect(sim)  # no public URL: polling
    await Worker(hub).drain()
    cancelled: list[str] = []
    Subscription.cancelled(lambda sub: cancelled.append(sub.id))
    clock.advance(5)
    sim.delete("subscription", s["sub"]["id"])
    await run_sync(hub, iid)
    await run_sync(hub, iid, full=True)
    sub = (await Subscription.find({"stripe_id": s["sub"]["id"]}))[0]
    assert sub["status"] == "Cancelled" and cancelled == [sub.id]
    assert [e.source for e in await events(hub, "Subscription.Cancelled")] == ["stripe"]


async def test_invoice_and_payment_events_and_a_refunded_charge_update_the_billing_nouns(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    s = seed(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    clock.advance(5)
    inv = sim.state.create("invoice", {"customer": s["customer"]["id"], "subscription": s["sub"]["id"]})
    pay = sim.state.create("payment_intent", {"amount": 2000, "currency": "usd", "customer": s["customer"]["id"]})
    clock.advance(5)
    inv.update(status="paid", amount_paid=2000)
    sim.state.record_event("invoice", "paid", inv)
    pay.update(status="succeeded", amount_received=2000, invoice=inv["id"])
    sim.state.record_event("payment_intent", "succeeded", pay)
    charge = sim.state.create("charge", {"amount": 2000, "currency": "usd", "customer": s["customer"]["id"]})
    charge.update(payment_intent=pay["id"], refunded=True, amount_refunded=2000)
    sim.state.record_event("charge", "refunded", charge)
    sim.requests.clear()
    outcomes = await arrived(sim, receiver, hub, iid)
    assert outcomes == ["applied"] * 5  # invoice.created, payment_intent.created, paid, succeeded, refunded
    (invoice,) = await Invoice.find({"stripe_id": inv["id"]})
    assert invoice["status"] == "paid" and invoice["amount_paid"] == 2000
    (payment,) = await Payment.find({"stripe_id": pay["id"]})
    assert payment["status"] == "succeeded" and payment["invoice"] == invoice.id
    # The refunded charge's PaymentIntent was read again from Stripe (no Noun holds charges).
    assert [r.path for r in sim.requests_to("GET", "/v1/payment_intents/")] == [f"/v1/payment_intents/{pay['id']}"]


async def test_a_deletion_delivered_before_the_creation_keeps_the_object_deleted(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    iid = await connect(sim)
    cus = sim.state.create("customer", {"email": "brief@example.com"})
    clock.advance(1)
    sim.state.delete("customer", cus["id"])
    await sim.sender.idle()
    created, deleted = receiver.to(iid)
    assert await receiver.apply(hub, iid, deleted) == "applied"
    assert await receiver.apply(hub, iid, created) == "applied"
    assert await Customer.find({}) == [] and await events(hub, "Customer.") == []


async def test_an_object_arriving_before_those_it_relates_to_has_them_read_from_stripe(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    iid = await connect(sim)
    prod = sim.state.create("product", {"name": "Team"})
    price = sim.state.create("price", {"product": prod["id"], "currency": "usd", "unit_amount": 900})
    cus = sim.state.create("customer", {"email": "early@example.com"})
    sub = sim.state.create("subscription", {"customer": cus["id"], "items": [{"price": price["id"]}]})
    await sim.sender.idle()
    sub_created = receiver.to(iid)[-1]
    assert sub_created.json()["type"] == "customer.subscription.created"
    assert await receiver.apply(hub, iid, sub_created) == "applied"  # first, before the others
    (local,) = await Subscription.find({"stripe_id": sub["id"]})
    (customer,) = await Customer.find({"stripe_id": cus["id"]})
    assert local["customer"] == customer.id and local["price"]
    # The others arrive late and change nothing.
    assert await rec_apply_all(receiver, hub, iid) == ["applied"] * 3
    assert await Customer.count() == 1 and len(await events(hub, "Customer.")) == 1


async def rec_apply_all(receiver: HookReceiver, hub: Hub, iid: str) -> list[str]:
    return [await receiver.apply(hub, iid, d) for d in receiver.to(iid)[:-1]]


async def test_a_webhook_that_changes_nothing_still_marks_the_time_so_an_older_one_stays_out(
    hub: Hub, sim: StripeSimulator, receiver: HookReceiver, clock: FakeClock
) -> None:
    """A sync stores what Stripe holds without a time (its objects carry none); the newest webhook
    then changes nothing but says how recent that is, and an older webhook arriving after must not
    move the entity back."""
    iid = await connect(sim)
    await Worker(hub).drain()
    clock.advance(10)
    made = sim.state.create("customer", {"email": "late@example.com"})
    clock.advance(10)
    sim.update("customer", made["id"], name="Newest")
    await sim.sender.idle()
    created, updated = receiver.to(iid)[-2:]
    await run_sync(hub, iid, full=True)  # stores "Newest", with no time
    assert await receiver.apply(hub, iid, updated) == "applied"  # the same fields: nothing to change
    await receiver.apply(hub, iid, created)  # older than the update: left out
    (found,) = await Customer.find({"stripe_id": made["id"]})
    assert found["name"] == "Newest"
