"""The HubSpot simulator speaks HubSpot's protocol: driven by the official ``hubspot-api-client``
(CRM objects, search, batch, associations v4, properties) and by raw HTTP for error bodies, the
rate limit, injected faults and the OAuth 2.0 flows, all on loopback."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import AssociationSpec, BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate

from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches, hubspot_served, hubspot_sim

__all__ = ["hubspot_served", "hubspot_sim"]  # fixtures used below, imported from crm_fixtures

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def _client(sim: HubSpotSimulator, token: str = DEFAULT_TOKEN) -> HubSpot:
    return HubSpot(access_token=token, host=sim.url)


def test_sdk_creates_lists_to_the_end_updates_and_archives(hubspot_served: HubSpotSimulator) -> None:
    client = _client(hubspot_served)
    created = [
        client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": f"p{i}@example.com", "firstname": f"P{i}"})
        )
        for i in range(5)
    ]
    assert created[0].properties["email"] == "p0@example.com" and created[0].properties["hs_object_id"] == created[0].id

    seen, after, pages = [], None, 0
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=2, after=after, properties=["email"])
        seen += [c.properties["email"] for c in page.results]
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == [f"p{i}@example.com" for i in range(5)] and pages == 3

    updated = client.crm.contacts.basic_api.update(
        created[1].id, SimplePublicObjectInput(properties={"lastname": "Lovelace"})
    )
    assert updated.properties["lastname"] == "Lovelace"
    fetched = client.crm.contacts.basic_api.get_by_id(created[1].id, properties=["lastname", "email"])
    assert fetched.properties == {"lastname": "Lovelace", "email": "p1@example.com"}
    by_email = client.crm.contacts.basic_api.get_by_id("p1@example.com", id_property="email")
    assert by_email.id == created[1].id

    client.crm.contacts.basic_api.archive(created[2].id)
    live = client.crm.contacts.basic_api.get_page(limit=100)
    assert created[2].id not in [c.id for c in live.results]
    archived = client.crm.contacts.basic_api.get_page(limit=100, archived=True)
    assert [c.id for c in archived.results] == [created[2].id] and archived.results[0].archived
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_by_id(created[2].id)
    assert err.value.status == 404


def test_sdk_search_filters_on_lastmodifieddate_sorts_and_pages() -> None:
    clock = Clock()
    sim = HubSpotSimulator(rate_limit=None, now=clock)
    with sim.serving_in_thread():
        client = _client(sim)
        ids = []
        for i in range(6):
            ids.append(sim.seed("contacts", {"email": f"s{i}@example.com"})["id"])
            clock.advance(60)
        since = str(int((clock() - 3 * 60) * 1000))  # milliseconds, as HubSpot takes them
        sim.state.update("contacts", ids[0], {"firstname": "touched"})  # modified now: after `since`

        def search(after: str | None = None) -> object:
            flt = {"propertyName": "lastmodifieddate", "operator": "GT", "value": since}
            request = PublicObjectSearchRequest(
                filter_groups=[{"filters": [flt]}],
                sorts=["lastmodifieddate"],
                properties=["email"],
                limit=2,
                after=after,
            )
            return client.crm.contacts.search_api.do_search(request)

        first = search()
        assert first.total == 3
        second = search(first.paging.next.after)
        assert second.paging is None
        emails = [c.properties["email"] for c in first.results + second.results]
        assert emails == ["s4@example.com", "s5@example.com", "s0@example.com"]
        sim.state.update("contacts", ids[1], {"firstname": "touched too"})  # a change between two searches
        assert search().total == 4

        iso_since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2025-10-09T08:53:20.000Z"}
        newest_first = client.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(filter_groups=[{"filters": [iso_since]}], sorts=["-createdate"], limit=100)
        )
        assert [c.id for c in newest_first.results] == list(reversed(ids))

        for amount in ("5", None, "30"):
            sim.seed("deals", {"dealname": f"deal {amount}", "amount": amount})
        by_amount = client.crm.deals.search_api.do_search(
            PublicObjectSearchRequest(sorts=["amount"], properties=["amount"], limit=10)
        )
        assert [d.properties["amount"] for d in by_amount.results] == [None, "5", "30"]  # numbers, unset first

        with pytest.raises(ApiException) as err:
            client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=101))
        assert err.value.status == 400
        with pytest.raises(ApiException) as err:
            client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=100, after="9901"))
        assert err.value.status == 400 and "10000" in err.value.body
    assert_no_mismatches(sim)


def test_sdk_batch_create_read_update_archive(hubspot_served: HubSpotSimulator) -> None:
    batch = _client(hubspot_served).crm.companies.batch_api
    made = batch.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"name": f"Co {i}", "domain": f"co{i}.example"}} for i in range(3)]
        )
    )
    assert made.status == "COMPLETE" and [c.properties["name"] for c in made.results] == ["Co 0", "Co 1", "Co 2"]
    ids = [c.id for c in made.results]
    changed = batch.update(
        BatchInputSimplePublicObjectBatchInput(inputs=[{"id": i, "properties": {"industry": "SOFTWARE"}} for i in ids])
    )
    assert {c.properties["industry"] for c in changed.results} == {"SOFTWARE"}
    read = batch.read(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in ids], properties=["name", "industry"])
    )
    assert sorted(c.properties["name"] for c in read.results) == ["Co 0", "Co 1", "Co 2"]
    batch.archive(BatchInputSimplePublicObjectId(inputs=[{"id": ids[0]}]))
    assert [c.id for c in _client(hubspot_served).crm.companies.basic_api.get_page(limit=10).results] == ids[1:]

    # One bad input writes nothing (HubSpot's batch writes are all or nothing).
    with pytest.raises(CompaniesApiException) as err:
        batch.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"name": "fine"}}, {"properties": {"nope": "x"}}]
            )
        )
    assert err.value.status == 400 and "PROPERTY_DOESNT_EXIST" in err.value.body
    assert len(hubspot_served.state.live("companies")) == 2
    contacts = _client(hubspot_served).crm.contacts.batch_api
    contacts.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": {"email": "a@x.example"}}]))
    for emails in (["b@x.example", "A@x.example"], ["c@x.example", "c@x.example"]):
        with pytest.raises(ApiException) as err:
            contacts.create(
                BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": {"email": e}} for e in emails])
            )
        assert err.value.status in (400, 409)
    assert [c.properties["email"] for c in hubspot_served.state.live("contacts")] == ["a@x.example"]


def test_sdk_batch_create_with_trace_ids_answers_207_for_the_refused_inputs(hubspot_served: HubSpotSimulator) -> None:
    """HubSpot's multi-status error handling: with an ``objectWriteTraceId`` on every input, a batch
    create writes the valid inputs and names each refused one by its trace id."""
    contacts = _client(hubspot_served).crm.contacts.batch_api
    taken = hubspot_served.seed("contacts", {"email": "taken@x.example"})["id"]
    inputs = [
        {"properties": {"email": "ok1@x.example"}, "objectWriteTraceId": "t-ok1"},
        {"properties": {"email": "bad@x.example", "nope": "x"}, "objectWriteTraceId": "t-bad"},
        {"properties": {"email": "taken@x.example"}, "objectWriteTraceId": "t-taken"},
        {"properties": {"email": "ok2@x.example"}, "objectWriteTraceId": "t-ok2"},
    ]
    answer = contacts.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert type(answer).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert answer.status == "COMPLETE" and answer.num_errors == 2
    assert sorted(r.properties["email"] for r in answer.results) == ["ok1@x.example", "ok2@x.example"]
    assert sorted(r.object_write_trace_id for r in answer.results) == ["t-ok1", "t-ok2"]
    refused = {e.context["objectWriteTraceId"][0]: e for e in answer.errors}
    assert set(refused) == {"t-bad", "t-taken"}
    assert refused["t-bad"].category == "VALIDATION_ERROR" and "PROPERTY_DOESNT_EXIST" in refused["t-bad"].message
    assert refused["t-taken"].category == "CONFLICT" and f"Existing ID: {taken}" in refused["t-taken"].message
    live = sorted(c.properties["email"] for c in hubspot_served.state.live("contacts"))
    assert live == ["ok1@x.example", "ok2@x.example", "taken@x.example"]
    # Without a trace id on every input it stays all or nothing.
    with pytest.raises(ApiException) as err:
        contacts.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    {"properties": {"email": "ok3@x.example"}, "objectWriteTraceId": "t-ok3"},
                    inputs[1],
                    {"properties": {"email": "ok4@x.example"}},
                ]
            )
        )
    assert err.value.status == 400 and len(hubspot_served.state.live("contacts")) == 3


async def test_a_207_batch_answer_has_hubspots_shape(hubspot_sim: HubSpotSimulator) -> None:
    """The raw 207 body: ``status: COMPLETE``, ``results``, ``numErrors`` and ``errors`` of HubSpot's
    StandardError shape, next to ``startedAt``/``completedAt``."""
    async with httpx.AsyncClient(base_url=hubspot_sim.url, headers=AUTH) as http:
        inputs = [
            {"properties": {"name": "Fine"}, "objectWriteTraceId": "a"},
            {"properties": {"name": "Bad", "numberofemployees": "1", "nope": "x"}, "objectWriteTraceId": "b"},
        ]
        resp = await http.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
    assert resp.status_code == 207
    body = resp.json()
    assert set(body) == {"status", "results", "numErrors", "errors", "startedAt", "completedAt"}
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["a"]
    (error,) = body["errors"]
    assert set(error) == {"status", "category", "message", "context", "errors", "links"}
    assert error["status"] == "error" and error["context"] == {"objectWriteTraceId": ["b"]}
    assert [c.properties["name"] for c in hubspot_sim.state.live("companies")] == ["Fine"]


def test_sdk_associations_v4_and_on_reads(hubspot_served: HubSpotSimulator) -> None:
    client = _client(hubspot_served)
    company = client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(properties={"name": "Acme"}))
    contact = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "ada@acme.example"})
    )
    deal = client.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"dealname": "Big", "amount": "5000"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}],
                }
            ],
        )
    )
    v4 = client.crm.associations.v4.basic_api
    v4.create_default("contacts", contact.id, "companies", company.id)
    labelled = v4.create(
        "deals",
        deal.id,
        "contacts",
        contact.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=3)],
    )
    assert labelled.to_object_id == contact.id

    of_company = v4.get_page("companies", company.id, "contacts")
    assert [(a.to_object_id, a.association_types[0].type_id) for a in of_company.results] == [(contact.id, 280)]
    assert [a.to_object_id for a in v4.get_page("companies", company.id, "deals").results] == [deal.id]
    read = client.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies", "deals"])
    assert read.associations["companies"].results[0].id == company.id
    assert read.associations["deals"].results[0].type == "contact_to_deal"
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"email": "orphan@example.com"},
                associations=[
                    {
                        "to": {"id": "999999"},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                    }
                ],
            )
        )
    assert err.value.status == 400 and len(hubspot_served.state.live("contacts")) == 1  # nothing written

    batch = client.crm.associations.v4.batch_api.get_page(
        "companies", "contacts", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": company.id}])
    )
    assert [(r._from.id, [t.to_object_id for t in r.to]) for r in batch.results] == [(company.id, [contact.id])]

    v4.archive("contacts", contact.id, "companies", company.id)
    assert v4.get_page("companies", company.id, "contacts").results == []


def test_sdk_properties_include_custom_ones(hubspot_served: HubSpotSimulator) -> None:
    client = _client(hubspot_served)
    client.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="favourite_colour",
            label="Favourite colour",
            type="string",
            field_type="text",
            group_name="contactinformation",
        ),
    )
    hubspot_served.add_property("contacts", "tier", "enumeration", "select", options=["gold", "silver"])
    names = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert {"email", "lastmodifieddate", "favourite_colour", "tier"} <= set(names)
    assert names["favourite_colour"].hubspot_defined is False and names["email"].hubspot_defined is True
    assert [(o.value, o.label) for o in names["tier"].options] == [("gold", "Gold"), ("silver", "Silver")]
    assert names["lastmodifieddate"].modification_metadata.read_only_value is True
    with pytest.raises(ApiException) as err:  # an enumeration takes only its options
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"tier": "platinum"}))
    assert err.value.status == 400 and "INVALID_OPTION" in str(err.value.body)
    made = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "c@example.com", "favourite_colour": "teal"})
    )
    assert client.crm.contacts.basic_api.get_by_id(made.id, properties=["favourite_colour"]).properties == {
        "favourite_colour": "teal"
    }


async def test_error_bodies_have_hubspot_shape() -> None:
    sim = HubSpotSimulator(rate_limit=None)
    async with sim, httpx.AsyncClient(base_url=sim.url) as http:
        anonymous = await http.get("/crm/v3/objects/contacts")
        missing = await http.get("/crm/v3/objects/contacts/424242", headers=AUTH)
        body = {"properties": {"email": "dup@example.com"}}
        first = await http.post("/crm/v3/objects/contacts", json=body, headers=AUTH)
        duplicate = await http.post("/crm/v3/objects/contacts", json=body, headers=AUTH)
        read_only = await http.patch(
            f"/crm/v3/objects/contacts/{first.json()['id']}", json={"properties": {"createdate": "1"}}, headers=AUTH
        )
        other = await http.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "o@example.com"}}, headers=AUTH
        )
        taken = await http.patch(
            f"/crm/v3/objects/contacts/{other.json()['id']}",
            json={"properties": {"email": "DUP@example.com"}},
            headers=AUTH,
        )
        await http.delete(f"/crm/v3/objects/contacts/{first.json()['id']}", headers=AUTH)
        freed = await http.patch(
            f"/crm/v3/objects/contacts/{other.json()['id']}",
            json={"properties": {"email": "dup@example.com"}},
            headers=AUTH,
        )
    assert (anonymous.status_code, anonymous.json()["category"]) == (401, "INVALID_AUTHENTICATION")
    assert (missing.status_code, missing.json()["category"]) == (404, "OBJECT_NOT_FOUND")
    assert first.status_code == 201
    assert duplicate.status_code == 409
    assert duplicate.json()["message"] == f"Contact already exists. Existing ID: {first.json()['id']}"
    assert (read_only.status_code, read_only.json()["category"]) == (400, "VALIDATION_ERROR")
    assert (taken.status_code, freed.status_code) == (409, 200)  # an archived contact's email is free again
    for answer in (anonymous, missing, duplicate, read_only, taken):
        assert set(answer.json()) >= {"status", "message", "correlationId", "category"}
        assert answer.json()["status"] == "error"
    assert_no_mismatches(sim)


async def test_a_request_outside_the_reference_is_a_recorded_mismatch(hubspot_sim: HubSpotSimulator) -> None:
    async with httpx.AsyncClient(base_url=hubspot_sim.url, headers=AUTH) as http:
        wrong_member = await http.post("/crm/v3/objects/contacts", json={"props": {"email": "x@example.com"}})
        wrong_route = await http.get("/crm/v3/objects/contacts/1/notes")
        wrong_shape = await http.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [1, 2]})
    assert wrong_member.status_code == wrong_route.status_code == wrong_shape.status_code == 400  # never a 500
    assert wrong_member.json()["category"] == wrong_shape.json()["category"] == "SIMULATOR_REQUEST_MISMATCH"
    assert len(hubspot_sim.mismatches) == 3 and "props" in hubspot_sim.mismatches[0]
    hubspot_sim.mismatches.clear()


async def test_ten_per_second_then_429_with_hubspot_headers(hubspot_sim: HubSpotSimulator) -> None:
    async with httpx.AsyncClient(base_url=hubspot_sim.url, headers=AUTH) as http:
        answers = [await http.get("/crm/v3/objects/deals") for _ in range(12)]
    ok = [a for a in answers if a.status_code == 200]
    limited = [a for a in answers if a.status_code == 429]
    assert len(ok) == 10 and len(limited) == 2  # twelve requests well inside one second on loopback
    assert ok[0].headers["X-HubSpot-RateLimit-Secondly"] == "10"
    assert ok[-1].headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
    assert int(ok[0].headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 250_000 - 1
    assert ok[-1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(250_000 - 10)
    body = limited[0].json()
    assert (body["category"], body["errorType"], body["policyName"]) == ("RATE_LIMITS", "RATE_LIMIT", "SECONDLY")
    assert int(limited[0].headers["Retry-After"]) >= 1


async def test_injected_faults_then_normal_answers() -> None:
    async with HubSpotSimulator(rate_limit=None) as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as http:
        sim.fail_next(2, status=502)
        sim.fail_next(1, status=429, retry_after=3)
        sim.fail_next(1, status=None, delay=0.3)
        statuses = [(await http.get("/crm/v3/objects/contacts")).status_code for _ in range(3)]
        started = time.monotonic()
        slow = await http.get("/crm/v3/objects/contacts")
        elapsed = time.monotonic() - started
        throttled = sim.requests[2]
    assert statuses == [502, 502, 429] and slow.status_code == 200 and elapsed >= 0.3
    assert throttled.path == "/crm/v3/objects/contacts" and len(sim.requests) == 4


async def test_the_daily_limit_answers_429_daily() -> None:
    async with (
        HubSpotSimulator(rate_limit=None, daily_limit=2) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=AUTH) as http,
    ):
        statuses = [(await http.get("/crm/v3/objects/companies")).status_code for _ in range(3)]
        refused = await http.get("/crm/v3/objects/companies")
    assert statuses == [200, 200, 429] and refused.json()["policyName"] == "DAILY"
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def _pkce() -> tuple[str, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def _authorize(http: httpx.AsyncClient, **extra: str) -> str:
    answer = await http.get(
        "/oauth/authorize",
        params={
            "client_id": "app",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "scope": "crm.objects.contacts.read",
            "state": "s1",
            **extra,
        },
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert answer.headers["Location"].startswith("http://127.0.0.1:9/cb?") and query["state"] == ["s1"]
    return query["code"][0]


async def test_oauth_code_refresh_and_invalid_grant() -> None:
    clock = Clock()
    sim = HubSpotSimulator(rate_limit=None, now=clock)
    sim.oauth.register("app", "secret")
    async with sim, httpx.AsyncClient(base_url=sim.url) as http:
        code = await _authorize(http)
        form = {
            "grant_type": "authorization_code",
            "client_id": "app",
            "client_secret": "secret",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code": code,
        }
        tokens = (await http.post("/oauth/v1/token", data=form)).json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 1800
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get("/crm/v3/objects/contacts", headers=bearer)).status_code == 200

        reused = await http.post("/oauth/v1/token", data=form)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        assert reused.json()["status"] == "BAD_AUTH_CODE"

        clock.advance(1801)
        expired = await http.get("/crm/v3/objects/contacts", headers=bearer)
        assert (expired.status_code, expired.json()["category"]) == (401, "EXPIRED_AUTHENTICATION")
        refresh = {
            "grant_type": "refresh_token",
            "client_id": "app",
            "client_secret": "secret",
            "refresh_token": tokens["refresh_token"],
        }
        renewed = (await http.post("/oauth/v1/token", data=refresh)).json()
        assert renewed["refresh_token"] == tokens["refresh_token"]  # no rotation by default, as HubSpot
        assert (
            await http.get("/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {renewed['access_token']}"})
        ).status_code == 200

        sim.oauth.rotate_refresh = True
        rotated = (await http.post("/oauth/v1/token", data=refresh)).json()
        assert rotated["refresh_token"] != tokens["refresh_token"]
        stale = await http.post("/oauth/v1/token", data=refresh)
        assert (stale.status_code, stale.json()["error"], stale.json()["status"]) == (
            400,
            "invalid_grant",
            "BAD_REFRESH_TOKEN",
        )
        revoked = await http.delete(f"/oauth/v1/refresh-tokens/{rotated['refresh_token']}")
        assert revoked.status_code == 204
        again = await http.post("/oauth/v1/token", data={**refresh, "refresh_token": rotated["refresh_token"]})
        assert again.json()["error"] == "invalid_grant"
        late = {**form, "code": await _authorize(http)}
        clock.advance(601)  # codes live ten minutes
        expired_code = await http.post("/oauth/v1/token", data=late)
        assert (expired_code.status_code, expired_code.json()["error"]) == (400, "invalid_grant")
        wrong_secret = await http.post("/oauth/v1/token", data={**form, "client_secret": "nope"})
        assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert sim.oauth.grants == ["authorization_code", "refresh_token", "refresh_token"]


async def test_oauth_pkce_s256_is_verified() -> None:
    sim = HubSpotSimulator(rate_limit=None)
    sim.oauth.register("app", "secret")
    verifier, challenge = _pkce()
    async with sim, httpx.AsyncClient(base_url=sim.url) as http:
        base = {
            "grant_type": "authorization_code",
            "client_id": "app",
            "client_secret": "secret",
            "redirect_uri": "http://127.0.0.1:9/cb",
        }
        pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
        without = await http.post("/oauth/v1/token", data={**base, "code": await _authorize(http, **pkce)})
        wrong = await http.post(
            "/oauth/v1/token", data={**base, "code": await _authorize(http, **pkce), "code_verifier": "w" * 50}
        )
        right = await http.post(
            "/oauth/v1/token", data={**base, "code": await _authorize(http, **pkce), "code_verifier": verifier}
        )
        info = await http.get(f"/oauth/v1/access-tokens/{right.json()['access_token']}")
    assert without.json()["error"] == wrong.json()["error"] == "invalid_grant"
    assert right.status_code == 200 and info.json()["scopes"] == ["crm.objects.contacts.read"]


def test_sdk_leads_through_the_generic_objects_api(hubspot_served: HubSpotSimulator) -> None:
    """The Leads API (``/crm/v3/objects/leads``) through the SDK's generic ``crm.objects``: a lead is made
    with its primary contact, reads the contact's name and email, moves through the lead pipeline."""
    from hubspot.crm.objects import PublicObjectSearchRequest as ObjectSearch
    from hubspot.crm.objects import SimplePublicObjectInput as ObjectInput
    from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
    from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException

    client = _client(hubspot_served)
    company = client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(properties={"name": "Acme"}))
    contact = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "ada@acme.example", "firstname": "Ada"})
    )
    objects = client.crm.objects
    with pytest.raises(ObjectsApiException) as orphan:
        objects.basic_api.create("leads", ObjectCreate(properties={"hs_lead_name": "Nobody's lead"}))
    assert orphan.value.status == 400 and "contact" in orphan.value.body
    assert hubspot_served.state.live("leads") == []

    def to(ident: str, type_id: int) -> dict[str, object]:
        return {
            "to": {"id": ident},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }

    lead = objects.basic_api.create(
        "leads",
        ObjectCreate(
            properties={"hs_lead_name": "Ada at Acme"}, associations=[to(contact.id, 578), to(company.id, 610)]
        ),
    )
    assert lead.properties["hs_pipeline_stage"] == "new-stage-id"
    read = objects.basic_api.get_by_id(
        "leads",
        lead.id,
        properties=["hs_lead_name", "hs_associated_contact_email", "hs_associated_contact_firstname"],
        associations=["contacts", "companies"],
    )
    assert read.properties["hs_associated_contact_email"] == "ada@acme.example"
    assert read.properties["hs_associated_contact_firstname"] == "Ada"
    assert read.associations["contacts"].results[0].id == contact.id
    assert read.associations["companies"].results[0].type == "lead_to_company"

    moved = objects.basic_api.update(
        "leads", lead.id, ObjectInput(properties={"hs_pipeline_stage": "qualified-stage-id"})
    )
    assert moved.properties["hs_pipeline_stage"] == "qualified-stage-id"
    with pytest.raises(ObjectsApiException) as bad:
        objects.basic_api.update("leads", lead.id, ObjectInput(properties={"hs_pipeline_stage": "won"}))
    assert bad.value.status == 400 and "INVALID_OPTION" in bad.value.body
    with pytest.raises(ObjectsApiException) as calculated:
        objects.basic_api.update("leads", lead.id, ObjectInput(properties={"hs_associated_contact_email": "x@y.z"}))
    assert calculated.value.status == 400 and "READ_ONLY_VALUE" in calculated.value.body

    found = objects.search_api.do_search(
        "leads",
        ObjectSearch(
            filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}],
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            properties=["hs_lead_name", "hs_pipeline_stage"],
            limit=10,
        ),
    )
    assert [(r.id, r.properties["hs_pipeline_stage"]) for r in found.results] == [(lead.id, "qualified-stage-id")]
    client.crm.contacts.basic_api.update(contact.id, SimplePublicObjectInput(properties={"firstname": "Augusta"}))
    again = objects.basic_api.get_by_id("leads", lead.id, properties=["hs_associated_contact_firstname"])
    assert again.properties["hs_associated_contact_firstname"] == "Augusta"
    objects.basic_api.archive("leads", lead.id)
    assert objects.basic_api.get_page("leads", archived=True).results[0].id == lead.id
