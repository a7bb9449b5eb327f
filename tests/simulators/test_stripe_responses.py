"""The simulator's responses validate against the response schemas of Stripe's OpenAPI description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from hubwire.simulators.stripe import StripeSimulator
from hubwire.simulators.stripe.spec import StripeSpecChecker

AUTH = {"Authorization": "Bearer sk_test_hubwire"}


async def _populate(c: httpx.AsyncClient) -> dict[str, Any]:
    async def post(path: str, data: dict[str, Any]) -> dict[str, Any]:
        r = await c.post(path, data=data)
        assert r.status_code == 200, r.text
        return r.json()

    cus = await post("/v1/customers", {"email": "v@example.com", "address[city]": "Paris", "metadata[k]": "v"})
    prod = await post("/v1/products", {"name": "Pro", "description": "Pro plan"})
    price = await post(
        "/v1/prices", {"product": prod["id"], "currency": "eur", "unit_amount": "900", "recurring[interval]": "month"}
    )
    await post("/v1/prices", {"product": prod["id"], "currency": "eur", "unit_amount": "5000"})
    plan = await post(
        "/v1/plans", {"product": prod["id"], "currency": "usd", "amount": "1200", "interval": "week", "id": "weekly"}
    )
    sub = await post("/v1/subscriptions", {"customer": cus["id"], "items[0][price]": price["id"]})
    await post("/v1/subscriptions", {"customer": cus["id"], "items[0][price]": plan["id"], "trial_period_days": "7"})
    await post(f"/v1/subscriptions/{sub['id']}", {"metadata[x]": "1", "cancel_at_period_end": "true"})
    await post("/v1/invoices", {"customer": cus["id"], "subscription": sub["id"]})
    await post("/v1/payment_intents", {"amount": "500", "currency": "usd", "customer": cus["id"]})
    await post("/v1/charges", {"amount": "700", "currency": "usd", "customer": cus["id"]})
    return {"customer": cus, "subscription": sub}


LISTS = [
    "/v1/customers",
    "/v1/products",
    "/v1/prices",
    "/v1/plans",
    "/v1/subscriptions",
    "/v1/invoices",
    "/v1/payment_intents",
    "/v1/charges",
    "/v1/events",
]


async def test_lists_and_objects_validate(stripe_spec: StripeSpecChecker, stripe_sim: StripeSimulator) -> None:
    stripe_sim.seed_many("customer", 3)
    for resource in ("product", "price", "plan", "invoice", "payment_intent", "charge"):
        stripe_sim.seed(resource)
    async with httpx.AsyncClient(base_url=stripe_sim.url, headers=AUTH) as c:
        made = await _populate(c)
        for path in LISTS:
            r = await c.get(path, params={"limit": 100})
            body = r.json()
            assert r.status_code == 200 and body["data"], path
            assert stripe_spec.response_errors("GET", path, 200, body) == [], path
        cus_id, sub_id = made["customer"]["id"], made["subscription"]["id"]
        singles = [
            ("GET", f"/v1/customers/{cus_id}"),
            ("GET", f"/v1/subscriptions/{sub_id}"),
            ("GET", "/v1/balance"),
            ("DELETE", f"/v1/subscriptions/{sub_id}"),
            ("DELETE", f"/v1/customers/{cus_id}"),
        ]
        for method, path in singles:
            r = await c.request(method, path)
            assert r.status_code == 200, r.text
            assert stripe_spec.response_errors(method, path, 200, r.json()) == [], (method, path)


async def test_error_bodies_validate(stripe_spec: StripeSpecChecker) -> None:
    async with StripeSimulator(rate_limit=1) as sim, httpx.AsyncClient(base_url=sim.url) as c:
        answers = [await c.get("/v1/customers/cus_nope", headers=AUTH), await c.get("/v1/customers", headers=AUTH)]
        sim.rate_limit = None
        sim.fail_next(1, status=500)
        answers.append(await c.get("/v1/customers", headers=AUTH))
        answers.append(await c.get("/v1/customers"))
        answers.append(await c.get("/v1/customers", params={"limit": 500}, headers=AUTH))
        answers.append(await c.post("/v1/payment_intents", headers=AUTH, data={
            "amount": "100", "currency": "usd", "confirm": "true", "payment_method": "pm_card_chargeDeclined",
        }))  # fmt: skip
    assert [r.status_code for r in answers] == [404, 429, 500, 401, 400, 402]
    for r in answers:
        assert stripe_spec.response_errors("GET", "/v1/customers", r.status_code, r.json()) == [], r.text
    assert answers[-1].json()["error"]["type"] == "card_error"


@pytest.mark.parametrize("resource", ["customer", "product", "price", "plan", "subscription", "invoice"])
async def test_seeded_objects_have_realistic_ids(stripe_sim: StripeSimulator, resource: str) -> None:
    prefix = {"customer": "cus_", "product": "prod_", "price": "price_", "plan": "plan_", "subscription": "sub_"}
    obj = stripe_sim.seed(resource, metadata={"a": "b"})
    assert obj["id"].startswith(prefix.get(resource, "in_")) and len(obj["id"]) > 12
    assert obj["metadata"] == {"a": "b"} and obj["object"] == resource
    assert stripe_sim.store[resource][obj["id"]] is obj
    assert stripe_sim.seed(resource)["id"] != obj["id"]


def test_response_check_catches_a_wrong_body(stripe_spec: StripeSpecChecker, stripe_sim: StripeSimulator) -> None:
    broken = dict(stripe_sim.seed("customer"), balance="lots")
    del broken["livemode"]
    errors = stripe_spec.response_errors(
        "GET", "/v1/customers", 200, {"object": "list", "data": [broken], "has_more": False, "url": "/v1/customers"}
    )
    assert any("balance" in e for e in errors) and any("livemode" in e for e in errors)
    assert stripe_spec.response_errors("GET", "/v1/customers", 200, {"object": "list"}) != []


async def test_seed_conveniences_build_valid_billing_objects(
    stripe_spec: StripeSpecChecker, stripe_sim: StripeSimulator
) -> None:
    cus = stripe_sim.seed("customer", email="m@example.com")
    prod = stripe_sim.seed("product", name="Pro")
    yearly = stripe_sim.seed(
        "price", product=prod["id"], unit_amount=12000, currency="eur", recurring={"interval": "year"}
    )
    weekly = stripe_sim.seed("plan", product=prod["id"], amount=500, interval="week")
    sub = stripe_sim.seed(
        "subscription",
        customer=cus["id"],
        created=1_700_000_000,
        items=[{"price": yearly["id"], "quantity": 3}, {"plan": weekly["id"]}],
    )
    assert yearly["type"] == "recurring" and yearly["recurring"]["interval_count"] == 1
    assert yearly["unit_amount_decimal"] == "12000" and weekly["amount_decimal"] == "500"
    assert [(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]] == [(yearly["id"], 3), (weekly["id"], 1)]
    assert sub["currency"] == "eur" and sub["current_period_start"] == 1_700_000_000
    assert sub["current_period_end"] == 1_731_622_400  # one calendar year later (2024 is a leap year)
    many = stripe_sim.seed_many("subscription", 2, customer=cus["id"], items=[{"price": yearly["id"]}])
    assert many[0]["items"]["data"][0]["id"] != many[1]["items"]["data"][0]["id"]
    async with httpx.AsyncClient(base_url=stripe_sim.url, headers=AUTH) as c:
        for path in ("/v1/subscriptions", "/v1/prices", "/v1/plans"):
            body = (await c.get(path)).json()
            assert stripe_spec.response_errors("GET", path, 200, body) == [], path


async def test_builtin_templates_validate_too(stripe_spec: StripeSpecChecker) -> None:
    """Without the specs folder (a user's machine) the built-in templates serve: they must be right as well."""
    async with StripeSimulator(specs_dir=Path("/nonexistent-specs"), check_spec=False) as sim:
        assert not sim.state.templates.from_fixtures
        for resource in ("product", "price", "plan", "invoice", "payment_intent", "charge"):
            sim.seed(resource)
        async with httpx.AsyncClient(base_url=sim.url, headers=AUTH) as c:
            await _populate(c)
            for path in [*LISTS, "/v1/balance"]:
                r = await c.get(path)
                assert r.status_code == 200, r.text
                assert stripe_spec.response_errors("GET", path, 200, r.json()) == [], path
