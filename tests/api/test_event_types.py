"""``GET /v1/event-types`` and ``GET /v1/event-types/{name}``: the catalogue over REST."""

from __future__ import annotations

import httpx
import jsonschema

from hubwire import Noun
from hubwire.events import register

PROBLEM = "application/problem+json"


async def test_the_catalogue_lists_nouns_integration_and_registered_events(client: httpx.AsyncClient) -> None:
    register(
        "Order.Shipped", schema={"type": "object", "properties": {"carrier": {"type": "string"}}}, category="Orders"
    )
    r = await client.get("/v1/event-types")
    assert r.status_code == 200
    found = {t["name"]: t for t in r.json()["data"]}
    assert {"Deal.Closed", "Deal.Lost", "Integration.Errored", "Integration.Connected", "webhook.test"} <= set(found)
    shipped = found["Order.Shipped"]
    assert shipped["category"] == "Orders" and shipped["source"] == "registered" and shipped["noun"] is None
    assert shipped["example"] == {"carrier": "string"}
    closed = found["Deal.Closed"]
    assert set(closed) == {"name", "display_name", "description", "category", "source", "noun", "schema", "example"}
    assert closed["source"] == "noun" and closed["example"]["stage"] == "Closed"
    jsonschema.Draft202012Validator(closed["schema"]).validate(closed["example"])

    # A Noun declared after the app started is there at the next request.
    Noun("Ticket", {"title": "string!", "escalate": "Escalated"})
    names = [t["name"] for t in (await client.get("/v1/event-types", params={"prefix": "Ticket."})).json()["data"]]
    assert names == ["Ticket.Created", "Ticket.Deleted", "Ticket.Escalated", "Ticket.Updated"]
    by_category = (await client.get("/v1/event-types", params={"category": "orders"})).json()["data"]
    assert [t["name"] for t in by_category] == ["Order.Shipped"]
    assert (await client.get("/v1/event-types", params={"category": "Nope"})).json() == {"data": []}


async def test_one_event_type_and_a_404_with_suggestions(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/event-types/Deal.Closed")
    assert r.status_code == 200 and r.json()["name"] == "Deal.Closed" and r.json()["category"] == "Deal"
    r = await client.get("/v1/event-types/Deal.Closd")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["code"] == "unknown_event_type" and body["suggestions"] == ["Deal.Closed"]
    assert "did you mean Deal.Closed?" in body["detail"]


async def test_event_types_need_a_key(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/v1/event-types")).status_code == 401
