"""The Pipedrive simulator speaks Pipedrive's protocol. No official Python client exists, so the tests
send the request shapes of the MIT ``pipedrive`` npm client (``pipedrive/client-nodejs``: base paths
``/api/v1`` and ``/api/v2``, the API token in the ``x-api-token`` header, JSON bodies, v1 ``start``/
``limit`` and v2 ``cursor``/``limit``/``updated_since`` query parameters, v1 ``PUT`` and v2 / leads
``PATCH`` updates, OAuth ``/oauth/token`` form posts with HTTP Basic client auth) plus the
documented ``api_token`` query parameter, with httpx on loopback."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches

TOKEN = {"x-api-token": DEFAULT_API_TOKEN}


@pytest.fixture
async def pipedrive() -> AsyncIterator[tuple[PipedriveSimulator, httpx.AsyncClient]]:
    async with PipedriveSimulator() as sim, httpx.AsyncClient(base_url=sim.url, headers=TOKEN) as http:
        yield sim, http
    assert_no_mismatches(sim)


async def test_v1_persons_crud_with_custom_fields_and_start_paging(
    pipedrive: tuple[PipedriveSimulator, httpx.AsyncClient],
) -> None:
    sim, http = pipedrive
    tier = sim.add_field("persons", "Tier", "enum", ["Gold", "Silver"])
    assert re.fullmatch(r"[0-9a-f]{40}", tier)
    org = (await http.post("/api/v1/organizations", json={"name": "Acme"})).json()["data"]
    made = await http.post(
        "/api/v1/persons", json={"name": "Ada Lovelace", "email": "ada@acme.example", "org_id": org["id"], tier: "Gold"}
    )
    assert made.status_code == 201
    person = made.json()["data"]
    assert person["email"] == [{"value": "ada@acme.example", "primary": True, "label": "work"}]
    assert person["org_id"] == {"value": org["id"], "name": "Acme"} and person[tier] == "Gold"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", person["add_time"])
    for i in range(4):
        await http.post("/api/v1/persons", json={"name": f"P{i}"})

    names, start, pages = [], 0, 0
    while True:
        body = (await http.get("/api/v1/persons", params={"start": start, "limit": 2})).json()
        names += [p["name"] for p in body["data"]]
        pages += 1
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            break
        start = pagination["next_start"]
    assert names == ["Ada Lovelace", "P0", "P1", "P2", "P3"] and pages == 3

    changed = await http.put(f"/api/v1/persons/{person['id']}", json={"phone": ["+44 20 7946 0000"], tier: "Silver"})
    assert (
        changed.json()["data"]["phone"][0]["value"] == "+44 20 7946 0000" and changed.json()["data"][tier] == "Silver"
    )
    deleted = await http.delete(f"/api/v1/persons/{person['id']}")
    assert deleted.json() == {"success": True, "data": {"id": person["id"]}}
    gone = await http.get(f"/api/v1/persons/{person['id']}")
    assert gone.status_code == 404
    assert gone.json() | {"error_info": None} == {
        "success": False,
        "error": "Person not found",
        "errorCode": 404,
        "error_info": None,
        "data": None,
        "additional_data": None,
    }

    fields = (await http.get("/api/v1/personFields")).json()["data"]
    custom = [f for f in fields if f["edit_flag"]]
    assert [(f["key"], f["name"], [o["label"] for o in f["options"]]) for f in custom] == [
        (tier, "Tier", ["Gold", "Silver"])
    ]
    assert {"name", "email", "org_id"} <= {f["key"] for f in fields if not f["edit_flag"]}
    types = {f["key"]: f["field_type"] for f in (await http.get("/api/v1/dealFields")).json()["data"]}
    assert (types["value"], types["expected_close_date"], types["org_id"], types["title"]) == (
        "monetary",
        "date",
        "org",
        "varchar",
    )


async def test_v2_cursor_paging_with_updated_since() -> None:
    clock = Clock()
    sim = PipedriveSimulator(now=clock)
    async with sim, httpx.AsyncClient(base_url=sim.url, headers=TOKEN) as http:
        ids = []
        for i in range(5):
            ids.append(
                (await http.post("/api/v2/deals", json={"title": f"D{i}", "value": 100 * i})).json()["data"]["id"]
            )
            clock.advance(60)
        await http.patch(f"/api/v2/deals/{ids[0]}", json={"status": "won"})
        since = "2025-10-09T08:55:00Z"  # Clock() starts at 08:53:20: after the second deal
        seen, cursor = [], None
        while True:
            params = {"limit": 2, "updated_since": since, "sort_by": "update_time"}
            body = (await http.get("/api/v2/deals", params={**params, **({"cursor": cursor} if cursor else {})})).json()
            seen += [(d["title"], d["status"]) for d in body["data"]]
            cursor = body["additional_data"]["next_cursor"]
            if cursor is None:
                break
        v1_collection = (await http.get("/api/v1/deals/collection", params={"since": "2025-10-09 08:55:00"})).json()
        wrong_verb = await http.put(f"/api/v2/deals/{ids[1]}", json={"title": "x"})
    assert seen == [("D2", "open"), ("D3", "open"), ("D4", "open"), ("D0", "won")]
    assert [d["title"] for d in v1_collection["data"]] == ["D0", "D2", "D3", "D4"]
    assert v1_collection["additional_data"]["next_cursor"] is None
    assert wrong_verb.status_code == 400 and len(sim.mismatches) == 1 and "PUT" in sim.mismatches[0]


async def test_v2_person_shape_and_custom_fields(pipedrive: tuple[PipedriveSimulator, httpx.AsyncClient]) -> None:
    sim, http = pipedrive
    tier = sim.add_field("persons", "Tier")
    made = await http.post(
        "/api/v2/persons",
        json={
            "name": "Grace",
            "emails": [{"value": "g@navy.example", "primary": True, "label": "work"}],
            "custom_fields": {tier: "Gold"},
        },
    )
    person = made.json()["data"]
    assert person["emails"][0]["value"] == "g@navy.example" and person["custom_fields"] == {tier: "Gold"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", person["add_time"]) and person["owner_id"] == 1
    patched = await http.patch(f"/api/v2/persons/{person['id']}", json={"custom_fields": {tier: "Silver"}})
    assert patched.json()["data"]["custom_fields"] == {tier: "Silver"}
    unknown = await http.patch(f"/api/v2/persons/{person['id']}", json={"custom_fields": {"f" * 40: 1}})
    assert unknown.status_code == 400 and unknown.json()["success"] is False
    v1 = (await http.get(f"/api/v1/persons/{person['id']}")).json()["data"]
    assert v1[tier] == "Silver" and v1["email"][0]["value"] == "g@navy.example"


async def test_leads_have_uuids_patch_and_updated_since(
    pipedrive: tuple[PipedriveSimulator, httpx.AsyncClient],
) -> None:
    _, http = pipedrive
    person = (await http.post("/api/v1/persons", json={"name": "Lead person"})).json()["data"]
    orphan = await http.post("/api/v1/leads", json={"title": "No one"})
    assert orphan.status_code == 400 and orphan.json()["errorCode"] == 400
    lead = (
        await http.post(
            "/api/v1/leads",
            json={"title": "Big lead", "person_id": person["id"], "value": {"amount": 500, "currency": "EUR"}},
        )
    ).json()["data"]
    assert re.fullmatch(r"[0-9a-f-]{36}", lead["id"]) and lead["person_id"] == person["id"]
    patched = await http.patch(f"/api/v1/leads/{lead['id']}", json={"title": "Bigger lead"})
    assert patched.json()["data"]["title"] == "Bigger lead"
    listed = (await http.get("/api/v1/leads", params={"updated_since": lead["add_time"]})).json()
    assert [x["id"] for x in listed["data"]] == [lead["id"]]
    assert (await http.get("/api/v1/leads", params={"updated_since": "2999-01-01T00:00:00Z"})).json()["data"] == []
    assert (await http.delete(f"/api/v1/leads/{lead['id']}")).json()["data"] == {"id": lead["id"]}


async def test_auth_by_query_token_header_and_errors(pipedrive: tuple[PipedriveSimulator, httpx.AsyncClient]) -> None:
    sim, _ = pipedrive
    async with httpx.AsyncClient(base_url=sim.url) as anonymous:
        by_query = await anonymous.get("/v1/organizations", params={"api_token": DEFAULT_API_TOKEN})
        missing = await anonymous.get("/v1/organizations")
        wrong = await anonymous.get("/v1/organizations", params={"api_token": "nope"})
        nameless = await anonymous.post("/v1/deals", params={"api_token": DEFAULT_API_TOKEN}, json={"value": 5})
        bad_email = await anonymous.post(
            "/v1/persons", params={"api_token": DEFAULT_API_TOKEN}, json={"name": "x", "email": [7]}
        )
    assert by_query.status_code == 200 and by_query.json() == {
        "success": True,
        "data": None,
        "additional_data": {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}},
    }
    assert (missing.status_code, missing.json()["error"], missing.json()["errorCode"]) == (
        401,
        "unauthorized access",
        401,
    )
    assert wrong.status_code == 401
    assert (nameless.status_code, nameless.json()["error"]) == (400, "Title must be given.")
    assert bad_email.status_code == 400 and bad_email.json()["success"] is False  # never a 500
    assert len(sim.mismatches) == 1 and "malformed request" in sim.mismatches[0]
    sim.mismatches.clear()


async def test_token_budget_429_with_ratelimit_headers_and_faults() -> None:
    async with PipedriveSimulator(burst_tokens=50) as sim, httpx.AsyncClient(base_url=sim.url, headers=TOKEN) as http:
        answers = [await http.get("/api/v1/persons") for _ in range(3)]  # 20 tokens each
        cheap = await http.get("/api/v2/persons")  # 10 tokens still fit
        sim.fail_next(1, status=500)
        broken = await http.post("/api/v1/persons", json={"name": "x"})
    assert [a.status_code for a in answers] == [200, 200, 429] and cheap.status_code == 200
    assert answers[0].headers["x-ratelimit-limit"] == "50" and answers[0].headers["x-ratelimit-remaining"] == "30"
    limited = answers[2]
    assert limited.json()["errorCode"] == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["x-ratelimit-remaining"] == "10"
    assert broken.status_code == 500 and broken.json()["success"] is False
    assert sim.daily_used == 20 + 20 + 10


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_oauth_code_pkce_refresh_and_invalid_grant() -> None:
    sim = PipedriveSimulator()
    sim.oauth.register("pd-app", "pd-secret")
    verifier = "p" * 60
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    async with sim, httpx.AsyncClient(base_url=sim.url) as http:
        redirect = await http.get(
            "/oauth/authorize",
            params={
                "client_id": "pd-app",
                "redirect_uri": "http://127.0.0.1:9/cb",
                "state": "xyz",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        query = parse_qs(urlsplit(redirect.headers["Location"]).query)
        assert redirect.status_code == 302 and query["state"] == ["xyz"]
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
        }
        no_basic = await http.post("/oauth/token", data=form)
        assert (no_basic.status_code, no_basic.json()["error"]) == (401, "invalid_client")
        tokens = (await http.post("/oauth/token", data=form, headers=_basic("pd-app", "pd-secret"))).json()
        assert tokens["api_domain"] == sim.url and tokens["expires_in"] == 3599 and tokens["token_type"] == "Bearer"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get("/api/v1/deals", headers=bearer)).status_code == 200
        reused = await http.post("/oauth/token", data=form, headers=_basic("pd-app", "pd-secret"))
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")

        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        renewed = (await http.post("/oauth/token", data=refresh, headers=_basic("pd-app", "pd-secret"))).json()
        assert renewed["refresh_token"] == tokens["refresh_token"]
        assert (
            await http.get("/api/v2/deals", headers={"Authorization": f"Bearer {renewed['access_token']}"})
        ).is_success
        await http.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, headers=_basic("pd-app", "pd-secret"))
        revoked = await http.post("/oauth/token", data=refresh, headers=_basic("pd-app", "pd-secret"))
        assert revoked.json()["error"] == "invalid_grant"
        stale = await http.get("/api/v1/deals", headers=bearer)
        assert (stale.status_code, stale.json()["errorCode"]) == (401, 401)
    assert sim.oauth.grants == ["authorization_code", "refresh_token"]
    assert_no_mismatches(sim)
