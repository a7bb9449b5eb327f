"""Generic Noun routes: create, get, list with filters and cursors, update with versions, verbs."""

from __future__ import annotations

import json

import httpx
import pytest

import hubwire

PROBLEM = "application/problem+json"


async def make(client: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    r = await client.post("/v1/deals", json={"name": "Deal", "stage": "Open", **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_get_update_delete(client: httpx.AsyncClient, deal: hubwire.Noun) -> None:
    created = await make(client, name="Enterprise", value=50000, tags=["big"])
    assert str(created["$id"]).startswith("deal_") and created["version"] == 1
    assert created["value"] == 50000 and created["tags"] == ["big"]

    got = await client.get(f"/v1/deals/{created['$id']}")
    assert got.status_code == 200 and got.json() == created
    assert got.headers["etag"] == '"1"'
    # The REST layer and the Python verbs see the same entity.
    assert dict(await deal.get(str(created["$id"]))) == created

    patched = await client.patch(f"/v1/deals/{created['$id']}", json={"value": 60000, "version": 1})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["value"] == 60000 and body["version"] == 2 and body["name"] == "Enterprise"

    deleted = await client.delete(f"/v1/deals/{created['$id']}")
    assert deleted.status_code == 200 and deleted.json()["$id"] == created["$id"]
    gone = await client.get(f"/v1/deals/{created['$id']}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_if_match_and_stale_versions(client: httpx.AsyncClient) -> None:
    d = await make(client)
    ok = await client.patch(f"/v1/deals/{d['$id']}", json={"value": 1}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = await client.patch(f"/v1/deals/{d['$id']}", json={"value": 2}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"
    assert stale.json()["version"] == 2  # the structured field says where the entity is now
    stale_q = await client.delete(f"/v1/deals/{d['$id']}", params={"version": 1})
    assert stale_q.status_code == 409
    assert (await client.get(f"/v1/deals/{d['$id']}")).json()["value"] == 1


async def test_custom_verbs_move_state_and_take_changes(client: httpx.AsyncClient) -> None:
    d = await make(client)
    closed = await client.post(f"/v1/deals/{d['$id']}/close", json={"won": True})
    assert closed.status_code == 200, closed.text
    assert closed.json()["stage"] == "Closed" and closed.json()["won"] is True
    again = await client.post(f"/v1/deals/{d['$id']}/reopen")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert again.json()["from_state"] == "Closed" and again.json()["to_state"] == "Open"
    events = (await client.get("/v1/events", params={"types": "Deal.*"})).json()["data"]
    assert [e["event"] for e in events] == ["Deal.Created", "Deal.Closed"]


async def test_list_filters_by_query_fields_and_json_filter(client: httpx.AsyncClient) -> None:
    await make(client, name="a", value=10, seats=1, won=True, tags=["x", "y"])
    await make(client, name="b", value=200, seats=5, won=False, tags=["y"])
    await make(client, name="c", value=3000, seats=5, won=True)

    async def names(**params: str) -> list[str]:
        r = await client.get("/v1/deals", params=params)
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["data"]]

    assert await names(seats="5", sort="name") == ["b", "c"]
    assert await names(won="true", sort="-value") == ["c", "a"]
    assert await names(tags="y", sort="name") == ["a", "b"]
    assert await names(filter=json.dumps({"value": {"$gte": 200}}), sort="value") == ["b", "c"]
    assert await names(filter=json.dumps({"value": {"$lt": 3000}}), seats="5") == ["b"]
    r = await client.get("/v1/deals", params=[("name", "a"), ("name", "c"), ("sort", "name")])
    assert [d["name"] for d in r.json()["data"]] == ["a", "c"]


async def test_pagination_with_cursor_visits_every_entity_once(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await make(client, name=f"d{i}", value=i % 3)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", "sort": "value"}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/deals", params=params)).json()
        pages += 1
        seen += [d["name"] for d in body["data"]]
        assert body["has_more"] == (body["next_cursor"] is not None)
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert pages == 3 and sorted(seen) == [f"d{i}" for i in range(7)]


@pytest.mark.parametrize("path", ["/v1/events", "/v1/nouns/events"])
async def test_event_noun_is_served_beside_the_event_log(client: httpx.AsyncClient, path: str) -> None:
    # The Event Noun's plural is the event log's path: the log keeps /v1/events.
    r = await client.post("/v1/nouns/events", json={"type": "integration_synced", "data": {"n": 1}})
    assert r.status_code == 201, r.text
    listed = (await client.get(path)).json()["data"]
    if path == "/v1/events":
        assert any(e["event"] == "Event.Created" for e in listed)
    else:
        assert [e["type"] for e in listed] == ["integration_synced"]


async def test_nouns_route_describes_schemas(client: httpx.AsyncClient) -> None:
    nouns = {n["name"]: n for n in (await client.get("/v1/nouns")).json()["data"]}
    assert nouns["Deal"]["verbs"] == {"close": "Closed", "lose": "Lost", "reopen": "Open"}
    assert nouns["Deal"]["fields"]["stage"]["enum"] == ["Open", "Closed", "Lost"]
    assert "error" not in nouns["Integration"]["verbs"]


class TicketNoun(hubwire.Noun):
    """A Noun whose ``escalate`` verb is implemented in Python."""

    def __init__(self) -> None:
        super().__init__("Ticket", {"title": "string!", "level": "integer", "escalate": "Escalated"})

    async def escalate(self, ticket_id: str, *, by: int = 1) -> hubwire.Entity:
        current = await self.get(ticket_id)
        return await self.perform("escalate", ticket_id, {"level": (current.get("level") or 0) + by})


async def test_a_verb_implemented_in_python_is_the_one_the_route_calls(hub: hubwire.Hub, api_key: str) -> None:
    from hubwire.api.app import create_app

    TicketNoun()
    app = create_app(hub)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        t = (await c.post("/v1/tickets", json={"title": "down", "level": 1})).json()
        r = await c.post(f"/v1/tickets/{t['$id']}/escalate", json={"by": 2})
        assert r.status_code == 200 and r.json()["level"] == 3
        bad = await c.post(f"/v1/tickets/{t['$id']}/escalate", json={"title": "x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "unknown_field"


async def test_a_noun_declared_after_create_app_is_served_once_started(hub: hubwire.Hub, api_key: str) -> None:
    from hubwire.api.app import create_app

    app = create_app(hub)
    hubwire.Noun("Gadget", {"label": "string!"})
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c,
    ):
        created = await c.post("/v1/gadgets", json={"label": "late"})
        assert created.status_code == 201, created.text
        listed = (await c.get("/v1/gadgets")).json()["data"]
        assert [g["label"] for g in listed] == ["late"]
        assert "/v1/gadgets" in (await c.get("/openapi.json")).json()["paths"]
        assert (await c.get("/v1/gadgets", headers={"Authorization": ""})).status_code == 401
