"""Connecting, reconnecting, syncing and disconnecting over REST; credentials never come back."""

from __future__ import annotations

import httpx

import hubwire
from hubwire import Integration
from tests.api.conftest import ACME_SECRET, AcmeProvider


async def test_connect_flow_never_returns_the_secret(hub: hubwire.Hub, client: httpx.AsyncClient) -> None:
    bodies: list[str] = []

    async def call(method: str, path: str, **kw: object) -> httpx.Response:
        r = await client.request(method, path, **kw)  # type: ignore[arg-type]
        bodies.append(r.text)
        return r

    refused = await call("POST", "/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET + "x"})
    assert refused.status_code == 400 and refused.json()["code"] == "provider_auth_failed"

    r = await call("POST", "/v1/integrations/connect", json={"provider": "acme", "apiKey": ACME_SECRET, "region": "eu"})
    # The refused attempt made no Integration: this one creates it.
    assert r.status_code == 201, r.text
    integ = r.json()
    assert integ["status"] == "Connected" and integ["error"] is None
    assert integ["config"]["region"] == "eu" and integ["config"]["account"] == {"account": "acct_1"}

    again = await call("POST", f"/v1/integrations/{integ['$id']}/connect", json={"api_key": ACME_SECRET})
    assert again.status_code == 200 and again.json()["$id"] == integ["$id"]

    found = await call("GET", "/v1/integrations", params={"status": "Active"})
    assert [i["$id"] for i in found.json()["data"]] == [integ["$id"]]
    await call("GET", f"/v1/integrations/{integ['$id']}")

    synced = await call("POST", f"/v1/integrations/{integ['$id']}/sync", json={"full": True})
    assert synced.status_code == 202
    jobs = (await call("GET", "/v1/jobs", params={"kind": "integration.sync"})).json()["data"]
    assert jobs and all(j["payload"]["integration_id"] == integ["$id"] for j in jobs)
    await hubwire.Worker(hub).drain()
    after = (await call("GET", f"/v1/integrations/{integ['$id']}")).json()
    assert after["status"] == "Synced" and after["last_sync_count"] == AcmeProvider.records

    await call("GET", "/v1/events")
    await call("GET", "/v1/jobs")
    gone = await call("POST", f"/v1/integrations/{integ['$id']}/disconnect")
    assert gone.status_code == 200 and gone.json()["status"] == "Disconnected"
    for body in bodies:
        assert ACME_SECRET not in body


async def test_connect_creates_with_201(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET})
    assert r.status_code == 201, r.text
    assert r.json()["slug"] == "acme" and r.json()["status"] == "Connected"
    again = await client.post("/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET})
    assert again.status_code == 200 and again.json()["$id"] == r.json()["$id"]


async def test_generic_connect_verb_cannot_bypass_the_credential_check(client: httpx.AsyncClient) -> None:
    made = (await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})).json()
    r = await client.post(f"/v1/integrations/{made['$id']}/connect", json={"api_key": "wrong"})
    assert r.status_code == 400 and r.json()["code"] == "provider_auth_failed"
    assert (await client.get(f"/v1/integrations/{made['$id']}")).json()["status"] == "Available"


async def test_providers_catalog_lists_field_names_only(client: httpx.AsyncClient) -> None:
    data = (await client.get("/v1/providers")).json()["data"]
    acme = next(p for p in data if p["slug"] == "acme")
    assert acme["credential_fields"] == ["api_key"] and acme["required_credentials"] == ["api_key"]
    assert acme["config_fields"] == ["region"] and acme["syncs"] is True and acme["category"] == "CRM"
    one = await client.get("/v1/providers/acme")
    assert one.status_code == 200 and one.json() == acme


async def test_status_is_only_moved_by_verbs(client: httpx.AsyncClient) -> None:
    made = await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme", "status": "Connected"})
    assert made.status_code == 422 and made.json()["errors"][0] == {
        "field": "status",
        "code": "read_only",
        "message": "status is set by Integration's verbs, not directly",
    }
    made = await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})
    iid = made.json()["$id"]
    for change in ({"status": "Connected"}, {"lastSyncCount": 3}, {"error": None}):
        r = await client.patch(f"/v1/integrations/{iid}", json=change)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "read_only", change
    renamed = await client.patch(f"/v1/integrations/{iid}", json={"name": "Acme EU"})
    assert renamed.status_code == 200 and renamed.json()["status"] == "Available"


async def test_the_marketplace_moves_are_verbs_over_rest(hub: hubwire.Hub, client: httpx.AsyncClient) -> None:
    iid = (await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})).json()["$id"]
    soon = await client.post(f"/v1/integrations/{iid}/announce")
    assert soon.status_code == 200, soon.text
    assert soon.json()["status"] == "ComingSoon"
    live = await client.post(f"/v1/integrations/{iid}/publish")
    assert live.status_code == 200 and live.json()["status"] == "Available"
    old = await client.post(f"/v1/integrations/{iid}/deprecate")
    assert old.status_code == 200 and old.json()["status"] == "Deprecated"
    again = await client.post(f"/v1/integrations/{iid}/publish")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    types = [e["event"] for e in (await client.get("/v1/events")).json()["data"]]
    assert types == [
        "Integration.Created",
        "Integration.Announced",
        "Integration.Published",
        "Integration.Deprecated",
    ]
    assert (await client.post(f"/v1/integrations/{iid}/error")).status_code == 404  # an event, not a verb


async def test_lists_take_the_seeds_camel_case_field_names(client: httpx.AsyncClient) -> None:
    await Integration.create(name="A", provider="acme", slug="a", auth_type="ApiKey")
    await Integration.create(name="B", provider="acme", slug="b", auth_type="OAuth2")
    for query in ("authType=OAuth2", "auth_type=OAuth2"):
        r = await client.get(f"/v1/integrations?{query}")
        assert r.status_code == 200, r.text
        assert [i["name"] for i in r.json()["data"]] == ["B"] and "auth_type" in r.json()["data"][0]
