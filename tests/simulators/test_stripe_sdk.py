"""Stripe's official Python SDK, pointed at the simulator, works against it: the simulator is faithful enough."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubwire.simulators.stripe import StripeSimulator

stripe = pytest.importorskip("stripe")


_http_clients: list[object] = []


def _client(sim: StripeSimulator, key: str = "sk_test_hubwire") -> object:
    http = stripe.AIOHTTPClient()
    _http_clients.append(http)
    return stripe.StripeClient(key, base_addresses={"api": sim.url}, http_client=http, max_network_retries=0)


@pytest.fixture(autouse=True)
async def _close_sdk_sessions() -> AsyncIterator[None]:
    yield
    while _http_clients:
        await _http_clients.pop().close_async()  # type: ignore[attr-defined]


async def test_sdk_crud_pagination_and_subscription(stripe_sim: StripeSimulator) -> None:
    client = _client(stripe_sim)
    v1 = client.v1  # type: ignore[attr-defined]
    cus = await v1.customers.create_async(params={"email": "sdk@example.com", "metadata": {"source": "sdk"}})
    assert cus.id.startswith("cus_") and cus.metadata["source"] == "sdk"
    cus = await v1.customers.update_async(cus.id, params={"name": "SDK User"})
    assert (await v1.customers.retrieve_async(cus.id)).name == "SDK User"

    prod = await v1.products.create_async(params={"name": "Team"})
    price = await v1.prices.create_async(
        params={"product": prod.id, "currency": "usd", "unit_amount": 4900, "recurring": {"interval": "month"}}
    )
    sub = await v1.subscriptions.create_async(
        params={"customer": cus.id, "items": [{"price": price.id, "quantity": 2}], "expand": ["customer"]}
    )
    assert sub.status == "active" and sub.customer.email == "sdk@example.com"
    assert sub["items"].data[0].quantity == 2
    canceled = await v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled"

    stripe_sim.seed_many("customer", 120)
    page = await v1.customers.list_async(params={"limit": 50})
    seen = [c.id async for c in page.auto_paging_iter()]
    assert len(seen) == len(set(seen)) == 121

    events = await v1.events.list_async(params={"types": ["customer.created", "customer.subscription.deleted"]})
    assert [e.type for e in events.data] == ["customer.subscription.deleted", "customer.created"]
    deleted = await v1.customers.delete_async(cus.id)
    assert deleted.deleted is True
    # The SDK's POSTs were form bodies with idempotency keys, as the real API expects.
    posts = stripe_sim.requests_to("POST", "/v1/")
    assert all(r.headers.get("Idempotency-Key") for r in posts)
    assert posts and all(
        r.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded") for r in posts
    )


async def test_sdk_maps_simulator_errors(stripe_sim: StripeSimulator) -> None:
    v1 = _client(stripe_sim).v1  # type: ignore[attr-defined]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await v1.customers.retrieve_async("cus_missing")
    assert missing.value.code == "resource_missing" and missing.value.http_status == 404
    with pytest.raises(stripe.AuthenticationError):
        await _client(stripe_sim, "sk_test_wrongwrongwrong").v1.customers.list_async()  # type: ignore[attr-defined]
    stripe_sim.fail_next(1, status=429, retry_after=1)
    with pytest.raises(stripe.RateLimitError):
        await v1.customers.list_async()
    with pytest.raises(stripe.CardError) as declined:
        await v1.payment_intents.create_async(
            params={"amount": 100, "currency": "usd", "confirm": True, "payment_method": "pm_card_chargeDeclined"}
        )
    assert declined.value.code == "card_declined"


def test_sync_sdk_against_a_simulator_served_from_a_thread() -> None:
    sim = StripeSimulator()
    with sim.serving_in_thread():
        sim.seed_many("customer", 30)
        client = stripe.StripeClient("sk_test_hubwire", base_addresses={"api": sim.url}, max_network_retries=0)
        ids = [c.id for c in client.v1.customers.list(params={"limit": 7}).auto_paging_iter()]
        assert len(set(ids)) == 30
        created = client.v1.customers.create(params={"email": "sync@example.com"})
        assert sim.store["customer"][created.id]["email"] == "sync@example.com"
    assert sim.mismatches == []
    assert sum(1 for r in sim.requests if r.method == "GET") == 5  # ceil(30 / 7) pages
