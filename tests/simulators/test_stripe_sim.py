"""The Stripe simulator over raw HTTP: auth, lists and pagination, filters, writes, events, errors, faults."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hubwire.simulators.stripe import StripeSimulator
from tests.simulators.stripe_fixtures import checked_stripe_simulator, require_stripe_specs

KEY = "sk_test_hubwire"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(stripe_sim: StripeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stripe_sim.url, headers=AUTH, timeout=10) as c:
        yield c


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        q = dict(params, limit=100)
        if after:
            q["starting_after"] = after
        r = await client.get(path, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["data"])
        if not body["has_more"]:
            return out
        after = body["data"][-1]["id"]


async def test_pagination_walks_every_object_once_newest_first(
    stripe_sim: StripeSimulator, client: httpx.AsyncClient
) -> None:
    seeded = stripe_sim.seed_many("customer", 250)
    # Stored out of order too: an older object lands in the middle of the index.
    old = stripe_sim.seed("customer", created=int(time.time()) - 3600, email="old@example.com")
    got = await walk(client, "/v1/customers")
    ids = [c["id"] for c in got]
    assert len(ids) == len(set(ids)) == 251
    assert set(ids) == {c["id"] for c in seeded} | {old["id"]}
    assert ids[-1] == old["id"]
    assert ids[:250] == [c["id"] for c in reversed(seeded)]
    # Default limit is 10; ending_before pages back towards the newest.
    first = (await client.get("/v1/customers")).json()
    assert len(first["data"]) == 10 and first["has_more"] is True and first["url"] == "/v1/customers"
    second = (await client.get("/v1/customers", params={"starting_after": first["data"][-1]["id"]})).json()
    back = (await client.get("/v1/customers", params={"ending_before": second["data"][0]["id"], "limit": 4})).json()
    assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"][-4:]]
    assert back["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101"])
async def test_limit_out_of_range_is_invalid(client: httpx.AsyncClient, limit: str) -> None:
    r = await client.get("/v1/customers", params={"limit": limit})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["param"] == "limit"


async def test_created_filters(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    for ts in (1000, 2000, 3000, 4000):
        stripe_sim.seed("product", name=f"p{ts}", created=ts)

    async def created(params: dict[str, Any]) -> list[int]:
        r = await client.get("/v1/products", params=params)
        assert r.status_code == 200, r.text
        return [p["created"] for p in r.json()["data"]]

    assert await created({"created[gte]": 2000}) == [4000, 3000, 2000]
    assert await created({"created[gt]": 2000}) == [4000, 3000]
    assert await created({"created[lte]": 2000}) == [2000, 1000]
    assert await created({"created[lt]": 2000, "created[gte]": 1000}) == [1000]
    assert await created({"created": 3000}) == [3000]


async def test_auth_errors(stripe_sim: StripeSimulator) -> None:
    async with httpx.AsyncClient(base_url=stripe_sim.url) as c:
        none = await c.get("/v1/balance")
        wrong = await c.get("/v1/balance", headers={"Authorization": "Bearer sk_test_nottherightkey1234"})
        basic = base64.b64encode(f"{KEY}:".encode()).decode()
        ok = await c.get("/v1/balance", headers={"Authorization": f"Basic {basic}"})
    assert none.status_code == 401 and "did not provide an API key" in none.json()["error"]["message"]
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid API Key provided: sk_test_****1234",
    }
    assert "nottherightkey" not in wrong.text
    assert ok.status_code == 200 and ok.json()["object"] == "balance"
    assert none.headers["Request-Id"].startswith("req_")


async def test_missing_object_is_404_resource_missing(client: httpx.AsyncClient) -> None:
    for path in ("/v1/customers/cus_nope", "/v1/subscriptions/sub_nope", "/v1/prices/price_nope"):
        r = await client.get(path)
        assert r.status_code == 404
        err = r.json()["error"]
        assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "resource_missing", "id")


async def test_customer_create_update_delete_and_events(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/customers",
        data={"email": "ada@example.com", "name": "Ada", "metadata[plan]": "pro", "address[city]": "London"},
    )
    assert r.status_code == 200, r.text
    cus = r.json()
    assert cus["id"].startswith("cus_") and cus["object"] == "customer"
    assert cus["metadata"] == {"plan": "pro"} and cus["address"]["city"] == "London"
    assert stripe_sim.requests[-1].form["metadata"] == {"plan": "pro"}

    upd = (await client.post(f"/v1/customers/{cus['id']}", data={"name": "Ada L", "metadata[tier]": "1"})).json()
    assert upd["name"] == "Ada L" and upd["metadata"] == {"plan": "pro", "tier": "1"}
    unset = (await client.post(f"/v1/customers/{cus['id']}", data={"metadata[plan]": "", "email": ""})).json()
    assert unset["metadata"] == {"tier": "1"} and unset["email"] is None

    gone = await client.delete(f"/v1/customers/{cus['id']}")
    assert gone.json() == {"id": cus["id"], "object": "customer", "deleted": True}
    assert (await client.get(f"/v1/customers/{cus['id']}")).status_code == 404

    events = (await client.get("/v1/events", params={"type": "customer.*"})).json()["data"]
    assert [e["type"] for e in events] == [
        "customer.deleted",
        "customer.updated",
        "customer.updated",
        "customer.created",
    ]
    assert events[2]["data"]["previous_attributes"]["name"] == "Ada"
    assert events[3]["data"]["object"]["email"] == "ada@example.com"


async def test_dashboard_update_records_event(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    cus = stripe_sim.seed("customer", email="a@example.com")
    assert (await client.get("/v1/events")).json()["data"] == []  # seeds are pre-existing: no events
    stripe_sim.update("customer", cus["id"], email="b@example.com")
    r = await client.get("/v1/events", params={"types[]": ["customer.updated", "customer.deleted"]})
    (event,) = r.json()["data"]
    assert event["type"] == "customer.updated" and event["id"].startswith("evt_")
    assert event["data"]["object"]["email"] == "b@example.com"
    assert event["data"]["previous_attributes"] == {"email": "a@example.com"}
    later = await client.get("/v1/events", params={"created[gt]": event["created"]})
    assert later.json()["data"] == []


async def test_subscription_lifecycle_and_expand(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    cus = stripe_sim.seed("customer", email="s@example.com")
    prod = (await client.post("/v1/products", data={"name": "Pro"})).json()
    price = (
        await client.post(
            "/v1/prices",
            data={"product": prod["id"], "currency": "usd", "unit_amount": "2000", "recurring[interval]": "year"},
        )
    ).json()
    assert price["type"] == "recurring" and price["unit_amount"] == 2000 and price["recurring"]["interval"] == "year"

    r = await client.post(
        "/v1/subscriptions",
        data={"customer": cus["id"], "items[0][price]": price["id"], "items[0][quantity]": "3", "expand[]": "customer"},
    )
    assert r.status_code == 200, r.text
    sub = r.json()
    assert sub["id"].startswith("sub_") and sub["status"] == "active"
    assert sub["customer"]["email"] == "s@example.com"  # expanded
    (item,) = sub["items"]["data"]
    assert item["quantity"] == 3 and item["price"]["id"] == price["id"]
    assert sub["current_period_end"] - sub["current_period_start"] in (365 * 86400, 366 * 86400)

    listed = (await client.get("/v1/subscriptions", params={"expand[]": "data.customer"})).json()
    assert listed["data"][0]["customer"]["id"] == cus["id"]
    assert stripe_sim.store["subscription"][sub["id"]]["customer"] == cus["id"]  # expansion never changes the store

    bad = await client.post("/v1/subscriptions", data={"customer": "cus_missing", "items[0][price]": price["id"]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "resource_missing"
    assert bad.json()["error"]["param"] == "customer"

    canceled = (await client.delete(f"/v1/subscriptions/{sub['id']}")).json()
    assert canceled["status"] == "canceled" and canceled["canceled_at"] is not None
    assert (await client.get("/v1/subscriptions")).json()["data"] == []  # canceled are hidden by default
    assert len((await client.get("/v1/subscriptions", params={"status": "all"})).json()["data"]) == 1
    types = [e["type"] for e in (await client.get("/v1/events")).json()["data"]]
    assert types[:2] == ["customer.subscription.deleted", "customer.subscription.created"]


async def test_idempotency_replay_and_conflict(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/v1/customers", data={"email": "i@example.com"}, headers=headers)
    again = await client.post("/v1/customers", data={"email": "i@example.com"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(stripe_sim.store["customer"]) == 1
    other = await client.post("/v1/customers", data={"email": "other@example.com"}, headers=headers)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert len(stripe_sim.store["customer"]) == 1


async def test_keep_requests_bounds_the_record_and_the_idempotency_keys() -> None:
    async with checked_stripe_simulator(keep_requests=3) as sim, httpx.AsyncClient(base_url=sim.url) as c:

        async def create(n: int) -> httpx.Response:
            key = {**AUTH, "Idempotency-Key": f"key-{n}"}
            return await c.post("/v1/customers", data={"email": f"c{n}@example.com"}, headers=key)

        made = [(await create(n)).json()["id"] for n in range(5)]
        assert len(sim.requests) == len(sim.request_times) == 3
        assert [r.form["email"] for r in sim.requests] == ["c2@example.com", "c3@example.com", "c4@example.com"]
        recent = await create(4)
        assert recent.headers["Idempotent-Replayed"] == "true" and recent.json()["id"] == made[4]
        # The oldest key is forgotten (as Stripe forgets one after 24 hours): a new customer.
        oldest = await create(0)
        assert "Idempotent-Replayed" not in oldest.headers and oldest.json()["id"] not in made
        assert len(sim.requests) == 3


async def test_faults_bursts_429_and_slow_answers(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    stripe_sim.fail_next(2, status=503)
    stripe_sim.fail_next(1, status=429, retry_after=3)
    stripe_sim.fail_next(1, status=None, delay=2.0)
    codes = [(await client.get("/v1/balance")).status_code for _ in range(2)]
    assert codes == [503, 503]
    limited = await client.get("/v1/balance")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/balance", timeout=0.3)
    assert (await client.get("/v1/balance")).status_code == 200
    assert len(stripe_sim.requests) == 5


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with StripeSimulator(rate_limit=5) as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
        responses = await asyncio.gather(*(c.get("/v1/balance") for _ in range(8)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] * 5 + [429] * 3
        limited = next(r for r in responses if r.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limit"
        assert sim.max_requests_per_second() == 8
        await asyncio.sleep(1.05)
        assert (await c.get("/v1/balance")).status_code == 200


async def test_unknown_parameter_without_spec_uses_stripe_message() -> None:
    async with StripeSimulator(check_spec=False) as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
        assert sim.checker is None
        r = await c.post("/v1/customers", data={"email": "x@example.com", "emial": "typo"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Received unknown parameter: emial"
    assert r.json()["error"]["param"] == "emial"
    assert sim.store["customer"] == {}


async def test_spec_mismatches_are_caught_and_recorded() -> None:
    require_stripe_specs()
    async with StripeSimulator() as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
        unknown = await c.post("/v1/customers", data={"email": "x@example.com", "emial": "typo"})
        wrong_type = await c.get("/v1/customers", params={"limit": "ten"})
        wrong_name = await c.get("/v1/customers", params={"page_size": "10"})
        as_json = await c.post("/v1/customers", json={"email": "x@example.com"})
        nested = await c.post("/v1/subscriptions", data={"customer": "cus_1", "items[0][quantity]": "many"})
        no_such = await c.get("/v1/nowhere")
    assert unknown.status_code == 400 and unknown.json()["error"]["message"] == "Received unknown parameter: emial"
    for r in (wrong_type, as_json, nested):
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "simulator_spec_mismatch"
    assert wrong_name.status_code == 400 and wrong_name.json()["error"]["param"] == "page_size"
    assert no_such.status_code == 404
    text = "\n".join(sim.mismatches)
    needles = ("emial", "limit", "page_size", "application/x-www-form-urlencoded", "[items][0][quantity]", "nowhere")
    for needle in needles:
        assert needle in text, needle
    assert sim.store["customer"] == {} and sim.store["subscription"] == {}


@pytest.mark.slow
async def test_hundred_thousand_customers_seed_and_page_fast() -> None:
    async with StripeSimulator(check_spec=False) as sim:
        t0 = time.perf_counter()
        seeded = sim.seed_many("customer", 100_000)
        seed_s = time.perf_counter() - t0
        async with httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
            middle = seeded[50_000]["id"]
            t1 = time.perf_counter()
            for _ in range(20):
                r = await c.get("/v1/customers", params={"limit": 100, "starting_after": middle})
            page_s = (time.perf_counter() - t1) / 20
        assert [x["id"] for x in r.json()["data"]] == [x["id"] for x in reversed(seeded[49_900:50_000])]
    assert seed_s < 20, f"seeding 100,000 customers took {seed_s:.1f}s"
    assert page_s < 0.25, f"a page of 100 from the middle took {page_s * 1000:.0f}ms"


async def test_fixture_fails_a_test_whose_requests_break_the_spec() -> None:
    require_stripe_specs()
    with pytest.raises(pytest.fail.Exception, match="page_size"):
        async with checked_stripe_simulator() as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
            await c.get("/v1/customers", params={"page_size": 3})
    async with checked_stripe_simulator() as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
        assert (await c.get("/v1/customers", params={"limit": 3})).status_code == 200


async def test_a_deleted_object_still_works_as_a_cursor(stripe_sim: StripeSimulator, client: httpx.AsyncClient) -> None:
    seeded = stripe_sim.seed_many("customer", 30)
    first = (await client.get("/v1/customers", params={"limit": 10})).json()["data"]
    stripe_sim.delete("customer", first[-1]["id"])
    rest = await walk(client, "/v1/customers", starting_after=first[-1]["id"])
    assert [c["id"] for c in first + rest] == [c["id"] for c in reversed(seeded)]
