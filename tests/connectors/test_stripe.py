"""Stripe end to end against the simulator, through the SDK: connect, sync, incremental, write-through."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hubwire.domains.billing import Customer, Invoice, Payment, Plan, Price, Product, Subscription
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderAuthError, ProviderInvalidRequest, ProviderUnavailable, ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.stripe import StripeSimulator
from hubwire.store.events import EventRecord, read_after
from hubwire.sync.runs import list_runs
from tests.connectors.loopback import LOOPBACK

KEY = "sk_test_hubwire"
MONTHLY = {"interval": "month", "interval_count": 1, "usage_type": "licensed", "aggregate_usage": None}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


async def events(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


def seed_account(sim: StripeSimulator) -> dict[str, Any]:
    prod = sim.seed("product", name="Pro")
    price = sim.seed("price", product=prod["id"], unit_amount=2000, currency="usd", type="recurring", recurring=MONTHLY)
    plan = sim.seed("plan", product=prod["id"], amount=50000, currency="usd", interval="year", nickname="pro")
    cus = sim.seed("customer", email="ada@example.com", name="Ada")
    sub = sim.state.create("subscription", {"customer": cus["id"], "items": [{"price": price["id"], "quantity": 2}]})
    inv = sim.state.create("invoice", {"customer": cus["id"], "subscription": sub["id"]})
    pay = sim.seed("payment_intent", customer=cus["id"], invoice=inv["id"], amount=4000, currency="usd")
    return {"product": prod, "price": price, "plan": plan, "customer": cus, "sub": sub, "invoice": inv, "payment": pay}


async def connect(sim: StripeSimulator, **config: Any) -> str:
    integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=sim.url, **config)
    return integ.id


async def test_bad_key_is_refused_and_recorded(hub: Hub, stripe_sim: StripeSimulator) -> None:
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(provider="stripe", api_key="sk_test_wrongkey123", api_base_url=stripe_sim.url)
    assert "sk_test_wrongkey123" not in str(err.value.to_dict())
    assert await Integration.find({"provider": "stripe"}) == []  # a new integration refused is not made
    assert [r.path for r in stripe_sim.requests] == ["/v1/balance"]
    iid = await connect(stripe_sim)
    with pytest.raises(ProviderAuthError):
        await Integration.connect(iid, api_key="sk_test_wrongkey123")
    integ = await Integration.get(iid)
    assert integ["status"] == "Connected" and integ["error"] and "sk_test_wrongkey123" not in integ["error"]
    assert len(await events(hub, "Integration.Errored")) == 1


async def test_connect_syncs_everything_with_relations(hub: Hub, stripe_sim: StripeSimulator) -> None:
    s = seed_account(stripe_sim)
    iid = await connect(stripe_sim)
    await Worker(hub).drain()
    integ = await Integration.get(iid)
    assert integ["status"] == "Synced" and integ["last_sync_count"] >= 7
    cus = (await Customer.find({"stripe_id": s["customer"]["id"]}))[0]
    price = (await Price.find({"stripe_id": s["price"]["id"]}))[0]
    product = (await Product.find({"stripe_id": s["product"]["id"]}))[0]
    plan = (await Plan.find({"nickname": "pro"}))[0]
    sub = (await Subscription.find({"stripe_id": s["sub"]["id"]}))[0]
    inv = (await Invoice.find({"stripe_id": s["invoice"]["id"]}))[0]
    pay = (await Payment.find({"stripe_id": s["payment"]["id"]}))[0]
    assert cus["email"] == "ada@example.com"
    assert price["product"] == product.id and price["interval"] == "month" and price["unit_amount"] == 2000
    assert plan["product"] == product.id and plan["amount"] == 50000
    assert sub["customer"] == cus.id and sub["price"] == price.id and sub["status"] == "Active"
    assert sub["quantity"] == 2 and sub["items"][0]["unit_amount"] == 2000
    assert inv["customer"] == cus.id and inv["subscription"] == sub.id
    assert pay["customer"] == cus.id and pay["invoice"] == inv.id and pay["amount"] == 4000
    assert {e.source for e in await events(hub, "Customer.")} == {"stripe"}
    runs = await list_runs(hub, iid)
    assert runs[0].status == "succeeded" and runs[0].counts["Customer"]["created"] == 1
    # Paginated with Stripe's own parameters; every request matched the OpenAPI description (fixture).
    lists = stripe_sim.requests_to("GET", "/v1/customers")
    assert lists and all(r.query.get("limit") == "100" for r in lists)


async def test_pagination_incremental_and_idempotence(hub: Hub, stripe_sim: StripeSimulator) -> None:
    stripe_sim.seed_many("customer", 250, created=int(time.time()) - 3600)
    iid = await connect(stripe_sim)
    await Worker(hub).drain()
    assert await Customer.count() == 250
    assert len(stripe_sim.requests_to("GET", "/v1/customers")) == 3  # 100 + 100 + 50
    before = len(await events(hub, "Customer."))
    await run_sync(hub, iid)
    assert len(await events(hub, "Customer.")) == before  # nothing changed, nothing written
    # One changed, one new, one deleted.
    some = list(stripe_sim.store["customer"].values())
    stripe_sim.state.update("customer", some[0]["id"], {"name": "Renamed"})
    stripe_sim.state.delete("customer", some[1]["id"])
    new = stripe_sim.seed("customer", email="new@example.com")
    stripe_sim.requests.clear()
    await run_sync(hub, iid)
    cust_lists = stripe_sim.requests_to("GET", "/v1/customers")
    assert len(cust_lists) == 1 and "gt" in cust_lists[0].query["created"]
    assert stripe_sim.requests_to("GET", "/v1/events")
    assert (await Customer.find({"stripe_id": some[0]["id"]}))[0]["name"] == "Renamed"
    assert await Customer.find({"stripe_id": some[1]["id"]}) == []
    assert len(await Customer.find({"stripe_id": new["id"]})) == 1
    assert await Customer.count() == 250
    run = (await list_runs(hub, iid))[0]
    assert run.counts["Customer"]["created"] == 1
    assert run.counts["Customer"]["updated"] == 1
    assert run.counts["Customer"]["deleted"] == 1


async def test_outage_fails_the_run_and_records_errored(hub: Hub, stripe_sim: StripeSimulator) -> None:
    stripe_sim.seed_many("customer", 5)
    iid = await connect(stripe_sim)
    stripe_sim.fail_next(50, status=500)
    with pytest.raises(ProviderUnavailable):
        await run_sync(hub, iid)
    integ = await Integration.get(iid)
    assert integ["status"] == "Connected" and "sync failed" in integ["error"]
    assert len(await events(hub, "Integration.Errored")) == 1
    run = (await list_runs(hub, iid))[0]
    assert run.status == "failed" and "500" in (run.error or "")
    assert len(stripe_sim.requests) >= 3  # retried by the HTTP layer before giving up


async def test_rate_budget_holds_at_the_simulator(hub: Hub, stripe_sim: StripeSimulator) -> None:
    stripe_sim.seed_many("customer", 450)
    use_http_client(hub, HttpClient(policy=LOOPBACK))
    iid = await connect(stripe_sim, rate_limit=4)
    await run_sync(hub, iid)
    assert await Customer.count() == 450
    assert len(stripe_sim.requests) >= 12
    assert stripe_sim.max_requests_per_second() <= 4


async def test_write_through_creates_in_stripe_and_links(hub: Hub, stripe_sim: StripeSimulator) -> None:
    seed_account(stripe_sim)
    iid = await connect(stripe_sim)
    await run_sync(hub, iid)
    cus = await Customer.create(name="Grace", email="grace@example.com")
    remote = stripe_sim.store["customer"][cus["stripe_id"]]
    assert remote["email"] == "grace@example.com"
    post = stripe_sim.requests_to("POST", "/v1/customers")[-1]
    assert post.headers.get("Idempotency-Key", "").startswith("hubwire-customer-create-")
    await Customer.update(cus.id, name="Grace H.")
    assert stripe_sim.store["customer"][cus["stripe_id"]]["name"] == "Grace H."
    product = await Product.create(name="Team")
    price = await Price.create(product=product.id, currency="usd", unit_amount=900, interval="month")
    assert stripe_sim.store["price"][price["stripe_id"]]["recurring"]["interval"] == "month"
    form = stripe_sim.requests_to("POST", "/v1/prices")[-1].form
    assert form["recurring"]["interval"] == "month"
    sub = await Subscription.create(price=price.id, customer=cus.id)
    assert sub["status"] == "Active" and sub["customer"] == cus.id and sub["price"] == price.id
    assert stripe_sim.store["subscription"][sub["stripe_id"]]["customer"] == cus["stripe_id"]
    # The seed's form: a plan by nickname and a contact by email.
    sub2 = await Subscription.create(plan="pro", contact="linus@example.com")
    linus = (await Customer.find({"email": "linus@example.com"}))[0]
    assert sub2["customer"] == linus.id and linus["stripe_id"] in stripe_sim.store["customer"]
    cancelled = await Subscription.cancel(sub.id)
    assert cancelled["status"] == "Cancelled"
    assert stripe_sim.store["subscription"][sub["stripe_id"]]["status"] == "canceled"
    assert len(await events(hub, "Subscription.Cancelled")) == 1
    # What write-through stored is what a sync sees: nothing to update.
    n = len(await events(hub, "Customer.Updated")) + len(await events(hub, "Subscription.Updated"))
    await run_sync(hub, iid)
    assert len(await events(hub, "Customer.Updated")) + len(await events(hub, "Subscription.Updated")) == n
    assert await Customer.count({"email": "grace@example.com"}) == 1


async def test_every_billing_write_goes_to_stripe_or_is_refused(hub: Hub, stripe_sim: StripeSimulator) -> None:
    s = seed_account(stripe_sim)
    # Without Stripe connected, billing Nouns are plain local ones.
    local = await Payment.create(amount=100, currency="usd")
    assert local["stripe_id"] is None
    iid = await connect(stripe_sim)
    await run_sync(hub, iid)
    product = (await Product.find({"stripe_id": s["product"]["id"]}))[0]
    renamed = await Product.update(product.id, name="Pro (2026)", description="The plan for teams")
    assert stripe_sim.store["product"][s["product"]["id"]]["name"] == "Pro (2026)"
    assert renamed["stripe_id"] == s["product"]["id"] and renamed.name == "Pro (2026)"
    price = (await Price.find({"stripe_id": s["price"]["id"]}))[0]
    await Price.update(price.id, nickname="monthly", lookup_key="pro_monthly")
    assert stripe_sim.store["price"][s["price"]["id"]]["lookup_key"] == "pro_monthly"
    plan = await Plan.create(product=product.id, amount=900, currency="usd", interval="week", nickname="weekly")
    assert stripe_sim.store["plan"][plan["stripe_id"]]["amount"] == 900
    sub = (await Subscription.find({"stripe_id": s["sub"]["id"]}))[0]
    await Subscription.update(sub.id, metadata={"team": "core"}, cancel_at_period_end=True)
    assert stripe_sim.store["subscription"][s["sub"]["id"]]["cancel_at_period_end"] is True
    # A sync afterwards changes nothing back: what was written is what Stripe has.
    await run_sync(hub, iid)
    assert (await Product.get(product.id)).name == "Pro (2026)"
    assert (await Price.get(price.id))["lookup_key"] == "pro_monthly"

    # What Stripe owns is refused, with the reason, and nothing is written anywhere.
    requests, seen = len(stripe_sim.requests), len(await events(hub, ""))
    with pytest.raises(ValidationError) as err:
        await Payment.create(amount=500, currency="usd")
    assert err.value.code == "provider_owned" and "payments are created by Stripe" in err.value.message
    with pytest.raises(ValidationError, match="invoices are created by Stripe"):
        await Invoice.create(total=100)
    with pytest.raises(ValidationError) as err:
        await Price.update(price.id, unit_amount=1)
    assert err.value.code == "provider_owned" and "unit_amount" in err.value.message
    assert [e.field for e in err.value.errors] == ["unit_amount"]
    pay = (await Payment.find({"stripe_id": s["payment"]["id"]}))[0]
    with pytest.raises(ValidationError, match="amount"):
        await Payment.update(pay.id, amount=1)
    with pytest.raises(ValidationError, match="status"):
        await Subscription.update(sub.id, status="Cancelled")
    assert len(stripe_sim.requests) == requests and len(await events(hub, "")) == seen
    assert (await Price.get(price.id))["unit_amount"] == 2000
    # Giving Stripe's own value back (a full PATCH body) changes nothing and is not refused.
    same = await Price.update(price.id, unit_amount=2000, nickname="monthly")
    assert same["unit_amount"] == 2000 and len(stripe_sim.requests) == requests


async def test_subscribing_to_a_plan_by_name(hub: Hub, stripe_sim: StripeSimulator) -> None:
    s = seed_account(stripe_sim)
    team = stripe_sim.seed("product", name="Team")
    team_price = stripe_sim.seed(
        "price", product=team["id"], unit_amount=900, currency="usd", type="recurring", recurring=MONTHLY
    )
    keyed = stripe_sim.seed(
        "price", product=s["product"]["id"], unit_amount=100, currency="usd", type="recurring", recurring=MONTHLY,
        lookup_key="starter", nickname="Starter monthly",
    )  # fmt: skip
    iid = await connect(stripe_sim)
    await run_sync(hub, iid)

    def subscribed_to(sub: Any) -> Any:
        return stripe_sim.store["subscription"][sub["stripe_id"]]["items"]["data"][0]["price"]["id"]

    by_plan_nickname = await Subscription.create(plan="pro", contact="ada@example.com")
    assert subscribed_to(by_plan_nickname) == s["plan"]["id"]
    by_lookup_key = await Subscription.create(plan="starter", contact="ada@example.com")
    assert subscribed_to(by_lookup_key) == keyed["id"]
    by_price_nickname = await Subscription.create(plan="Starter monthly", contact="ada@example.com")
    assert subscribed_to(by_price_nickname) == keyed["id"]
    by_product_name = await Subscription.create(plan="team", contact="ada@example.com")  # the product is "Team"
    assert subscribed_to(by_product_name) == team_price["id"]
    subs, requests = await Subscription.count(), len(stripe_sim.requests_to("POST", "/v1/subscriptions"))
    with pytest.raises(ValidationError) as err:
        await Subscription.create(plan="enterprise", contact="ada@example.com")
    assert err.value.errors[0].field == "plan" and err.value.errors[0].code == "not_found"
    assert "no price or plan 'enterprise'" in err.value.message and "lookup_key" in err.value.message
    assert "Product" in err.value.message
    assert await Subscription.count() == subs and len(stripe_sim.requests_to("POST", "/v1/subscriptions")) == requests


async def test_stripe_error_writes_nothing(hub: Hub, stripe_sim: StripeSimulator) -> None:
    seed_account(stripe_sim)
    iid = await connect(stripe_sim)
    await run_sync(hub, iid)
    cus = (await Customer.find())[0]
    subs, seen = await Subscription.count(), len(await events(hub, "Subscription."))
    with pytest.raises(ProviderInvalidRequest) as err:
        await Subscription.create(price="price_doesnotexist", customer=cus.id)
    assert "price_doesnotexist" in err.value.message
    stripe_sim.fail_next(10, status=500)
    with pytest.raises(ProviderUnavailable):
        await Customer.create(email="nobody@example.com")
    assert await Subscription.count() == subs
    assert len(await events(hub, "Subscription.")) == seen
    assert await Customer.count({"email": "nobody@example.com"}) == 0


async def test_crash_mid_sync_resumes_after_the_last_committed_page(hub: Hub, stripe_sim: StripeSimulator) -> None:
    stripe_sim.seed_many("customer", 250)
    iid = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=stripe_sim.url)
    # The events watermark, products, prices, plans and customers page 1 pass; page 2 fails every attempt.
    stripe_sim.fail_next(5, status=None)
    stripe_sim.fail_next(3, status=500)
    with pytest.raises(ProviderUnavailable):
        await run_sync(hub, iid.id)
    assert await Customer.count() == 100
    stripe_sim.requests.clear()
    await run_sync(hub, iid.id)
    pages = stripe_sim.requests_to("GET", "/v1/customers")
    assert len(pages) == 2 and pages[0].query.get("starting_after")  # resumed after page 1, not from the top
    assert await Customer.count() == 250
    assert len(await events(hub, "Customer.Created")) == 250
    runs = await list_runs(hub, iid.id)
    assert [r.status for r in runs] == ["succeeded", "failed"]
