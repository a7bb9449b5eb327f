"""The Salesforce simulator speaks Salesforce's REST protocol: driven by ``simple-salesforce`` over
HTTPS on loopback (sObject CRUD, describe, SOQL with queryMore paging, incremental SystemModstamp
queries, error codes, ``Sforce-Limit-Info``) and by raw HTTP for composite batches, the
updated/deleted feeds, the Postman-collection check, faults, the rate limit and OAuth 2.0."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from hubwire.simulators.salesforce import DEFAULT_SESSION, SalesforceSimulator
from hubwire.simulators.salesforce.state import sf_time
from tests.simulators.crm_fixtures import (
    Clock,
    LoopbackTLS,
    assert_no_mismatches,
    loopback_tls,
    require_salesforce_collection,
    salesforce_served,
    salesforce_sim,
)

__all__ = ["loopback_tls", "salesforce_served", "salesforce_sim"]  # fixtures used below, from crm_fixtures

AUTH = {"Authorization": f"Bearer {DEFAULT_SESSION}"}
DATA = "/services/data/v59.0"


def _sdk(sim: SalesforceSimulator, tls: LoopbackTLS, session_id: str = DEFAULT_SESSION) -> Salesforce:
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would replace the loopback certificate
    http.verify = str(tls.ca_file)
    return Salesforce(instance_url=sim.url, session_id=session_id, version="59.0", session=http)


@pytest.fixture
def sdk(salesforce_served: SalesforceSimulator, loopback_tls: LoopbackTLS) -> Iterator[Salesforce]:
    yield _sdk(salesforce_served, loopback_tls)


def test_sdk_contact_create_get_update_delete_and_describe(
    salesforce_served: SalesforceSimulator, sdk: Salesforce
) -> None:
    salesforce_served.add_field("Contact", "Tier__c", "picklist", values=("Gold", "Silver"))
    made = sdk.Contact.create({"LastName": "Lovelace", "Email": "ada@example.com", "Tier__c": "Gold"})
    assert made["success"] is True and made["id"].startswith("003") and len(made["id"]) == 18
    got = sdk.Contact.get(made["id"])
    assert (got["LastName"], got["Tier__c"], got["IsDeleted"]) == ("Lovelace", "Gold", False)
    assert got["attributes"] == {"type": "Contact", "url": f"{DATA}/sobjects/Contact/{made['id']}"}
    assert sdk.Contact.update(made["id"], {"Title": "Countess"}) == 204
    assert sdk.Contact.get(made["id"])["Title"] == "Countess"

    fields = {f["name"]: f for f in sdk.Contact.describe()["fields"]}
    assert fields["Tier__c"]["custom"] is True and fields["LastName"]["nillable"] is False
    assert [(v["value"], v["active"]) for v in fields["Tier__c"]["picklistValues"]] == [
        ("Gold", True),
        ("Silver", True),
    ]
    assert fields["Tier__c"]["updateable"] is True and fields["Id"]["updateable"] is False
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["AccountId"]["referenceTo"] == ["Account"]
    assert {s["name"] for s in sdk.describe()["sobjects"]} == {"Account", "Contact", "Opportunity", "Lead"}

    assert sdk.Contact.delete(made["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sdk.Contact.get(made["id"])
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    assert sdk.query_all("SELECT Id FROM Contact")["totalSize"] == 0
    assert [r["Id"] for r in sdk.query_all("SELECT Id FROM Contact", include_deleted=True)["records"]] == [made["id"]]
    assert sdk.api_usage["api-usage"].used == len(salesforce_served.requests)
    assert sdk.api_usage["api-usage"].total == 15_000


def test_sdk_query_pages_through_next_records_url(salesforce_served: SalesforceSimulator, sdk: Salesforce) -> None:
    account = salesforce_served.seed("Account", Name="Acme")
    for i in range(450):
        salesforce_served.seed("Contact", LastName=f"L{i:03d}", AccountId=account["Id"])
    salesforce_served.batch_size = 200
    first = sdk.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert first["done"] is False and first["totalSize"] == 450 and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith(f"{DATA}/query/01g") and first["nextRecordsUrl"].endswith("-200")
    everything = sdk.query_all("SELECT Id, LastName FROM Contact ORDER BY LastName DESC")
    assert [r["LastName"] for r in everything["records"]] == [f"L{i:03d}" for i in reversed(range(450))]
    assert len(salesforce_served.requests_to("GET", f"{DATA}/query/01g")) == 2  # query_all's pages 2 and 3
    with pytest.raises(SalesforceMalformedRequest) as err:
        sdk.query_more("01gNOPE-200")
    assert err.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_incremental_query_on_system_modstamp(loopback_tls: LoopbackTLS) -> None:
    require_salesforce_collection()
    clock = Clock()
    sim = SalesforceSimulator(ssl=loopback_tls.server, now=clock)
    with sim.serving_in_thread():
        sdk = _sdk(sim, loopback_tls)
        ids = []
        for i in range(5):
            ids.append(sim.seed("Lead", LastName=f"Lead{i}", Company="Co", Status="Open")["Id"])
            clock.advance(60)
        since = sf_time(clock() - 150)  # after the third lead
        clock.advance(60)
        sim.state.update("Lead", ids[0], {"Status": "Working"})
        soql = (
            f"SELECT Id, LastName, Status FROM Lead WHERE SystemModstamp > {since} AND Status != 'Closed' "
            "ORDER BY SystemModstamp ASC LIMIT 10"
        )
        found = sdk.query(soql)["records"]
        assert [r["Id"] for r in found] == [ids[3], ids[4], ids[0]] and found[-1]["Status"] == "Working"
        zulu = sdk.query(
            f"SELECT Id FROM Lead WHERE SystemModstamp >= {since.replace('.000+0000', 'Z')} "
            "ORDER BY SystemModstamp LIMIT 1"
        )
        assert [r["Id"] for r in zulu["records"]] == [ids[3]]
        picked = sdk.query(f"SELECT Id FROM Lead WHERE Id IN ('{ids[1]}', '{ids[2]}') ORDER BY LastName DESC")
        assert [r["Id"] for r in picked["records"]] == [ids[2], ids[1]]
    assert_no_mismatches(sim)


def test_sdk_sees_salesforce_error_codes(salesforce_served: SalesforceSimulator, loopback_tls: LoopbackTLS) -> None:
    salesforce_served.add_field("Contact", "External_Id__c", unique=True)
    sdk = _sdk(salesforce_served, loopback_tls)
    first = sdk.Contact.create({"LastName": "One", "External_Id__c": "X-1"})

    def code(call: object, *args: object) -> tuple[str, list[str]]:
        with pytest.raises(SalesforceMalformedRequest) as err:
            call(*args)  # type: ignore[operator]
        return err.value.content[0]["errorCode"], err.value.content[0]["fields"]

    assert code(sdk.Contact.create, {"FirstName": "No last name"}) == ("REQUIRED_FIELD_MISSING", ["LastName"])
    assert code(sdk.Contact.create, {"LastName": "Two", "External_Id__c": "X-1"}) == (
        "DUPLICATE_VALUE",
        ["External_Id__c"],
    )
    assert code(sdk.Contact.update, first["id"], {"Nope__c": 1}) == ("INVALID_FIELD", ["Nope__c"])
    assert code(sdk.query, "SELECT FROM Contact")[0] == "MALFORMED_QUERY"
    assert code(sdk.query, "SELECT Id FROM Contact WHERE Bogus > 1")[0] == "INVALID_FIELD"
    assert code(sdk.query, "SELECT Id FROM Widget")[0] == "INVALID_TYPE"
    with pytest.raises(SalesforceExpiredSession) as expired:
        _sdk(salesforce_served, loopback_tls, session_id="00Dwrong!session").Contact.get(first["id"])
    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]


async def test_composite_sobjects_create_and_update(salesforce_sim: SalesforceSimulator) -> None:
    async with httpx.AsyncClient(base_url=salesforce_sim.url, headers=AUTH) as http:
        good = {"attributes": {"type": "Account"}, "Name": "Good"}
        bad = {"attributes": {"type": "Opportunity"}, "Name": "No stage"}
        rolled_back = await http.post(f"{DATA}/composite/sobjects", json={"allOrNone": True, "records": [good, bad]})
        assert [r["success"] for r in rolled_back.json()] == [False, False]
        assert rolled_back.json()[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        assert rolled_back.json()[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
        assert salesforce_sim.state.records.get("Account", {}) == {}

        partial = (await http.post(f"{DATA}/composite/sobjects", json={"records": [good, bad]})).json()
        assert [r["success"] for r in partial] == [True, False]
        account = partial[0]["id"]
        update = {"records": [{"attributes": {"type": "Account"}, "id": account, "Industry": "Energy"}]}
        updated = await http.patch(f"{DATA}/composite/sobjects", json=update)
        assert updated.json() == [{"id": account, "success": True, "errors": []}]
        by_type = {"records": [{"id": account, "Website": "https://good.example"}]}  # the collection's form
        assert (await http.patch(f"{DATA}/composite/sobjects/Account", json=by_type)).json()[0]["success"] is True
        got = (await http.get(f"{DATA}/sobjects/Account/{account}", params={"fields": "Name,Industry"})).json()
        assert (got["Name"], got["Industry"]) == ("Good", "Energy")
        assert salesforce_sim.state.get("Account", account)["Website"] == "https://good.example"
        assert updated.headers["Sforce-Limit-Info"] == "api-usage=3/15000"  # the third API call


async def test_versions_resources_and_updated_deleted_feeds() -> None:
    require_salesforce_collection()
    clock = Clock()
    async with SalesforceSimulator(now=clock) as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as http:
        versions = (await http.get("/services/data")).json()
        assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
        assert (await http.get(f"{DATA}/")).json()["query"] == f"{DATA}/query"
        start = sf_time(clock())
        kept = sim.seed("Account", Name="Kept")
        gone = sim.seed("Account", Name="Gone")
        clock.advance(30)
        sim.state.delete("Account", gone["Id"])
        end = sf_time(clock.advance(30))
        window = {"start": start, "end": end}
        updated = (await http.get(f"{DATA}/sobjects/Account/updated/", params=window)).json()
        deleted = (await http.get(f"{DATA}/sobjects/Account/deleted/", params=window)).json()
    assert updated["ids"] == [kept["Id"]]
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone["Id"]]
    assert_no_mismatches(sim)


async def test_query_batch_size_header_and_query_more(salesforce_sim: SalesforceSimulator) -> None:
    for i in range(250):
        salesforce_sim.seed("Account", Name=f"A{i:03d}")
    options = {"Sforce-Query-Options": "batchSize=200"}
    async with httpx.AsyncClient(base_url=salesforce_sim.url, headers={**AUTH, **options}) as http:
        first = (await http.get(f"{DATA}/query/", params={"q": "SELECT Id, Name FROM Account ORDER BY Name"})).json()
        rest = (await http.get(first["nextRecordsUrl"])).json()
        spent = await http.get(first["nextRecordsUrl"])  # the locator is gone once its last page was read
    assert (len(first["records"]), first["done"], first["totalSize"]) == (200, False, 250)
    assert (len(rest["records"]), rest["done"], "nextRecordsUrl" in rest) == (50, True, False)
    assert rest["records"][-1]["Name"] == "A249"
    assert spent.status_code == 400 and spent.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


async def test_requests_outside_the_postman_collection_are_mismatches(salesforce_sim: SalesforceSimulator) -> None:
    assert salesforce_sim.routes is not None and len(salesforce_sim.routes.routes) > 200
    assert salesforce_sim.routes.operation("GET", f"{DATA}/sobjects/Account/describe") == "SObject Describe"
    async with httpx.AsyncClient(base_url=salesforce_sim.url, headers=AUTH) as http:
        answer = await http.post(f"{DATA}/sobjects/Contact/003Hw0000000001IAA", json={"LastName": "x"})
        salesforce_sim.fail_next(1, status=503)
        faulted = await http.get(f"{DATA}/nonsense")
        wrong_shape = await http.post(f"{DATA}/composite/sobjects", json={"records": ["not an sObject"]})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "SIMULATOR_REQUEST_MISMATCH"
    assert faulted.status_code == 503  # answered with the fault, and still checked
    assert wrong_shape.status_code == 400 and wrong_shape.json()[0]["errorCode"] == "SIMULATOR_REQUEST_MISMATCH"
    assert salesforce_sim.mismatches[:2] == [
        f"POST {DATA}/sobjects/Contact/003Hw0000000001IAA: not a request of Salesforce's Postman collection",
        f"GET {DATA}/nonsense: not a request of Salesforce's Postman collection",
    ]
    assert len(salesforce_sim.mismatches) == 3 and "malformed request" in salesforce_sim.mismatches[2]
    salesforce_sim.mismatches.clear()


async def test_faults_and_the_per_second_limit() -> None:
    require_salesforce_collection()
    async with SalesforceSimulator(rate_limit=3) as sim, httpx.AsyncClient(base_url=sim.url, headers=AUTH) as http:
        sim.fail_next(1, status=503)
        statuses = [(await http.get(f"{DATA}/sobjects/")).status_code for _ in range(5)]
        limited = await http.get(f"{DATA}/sobjects/")
    assert statuses == [503, 200, 200, 200, 429]
    assert limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED" and int(limited.headers["Retry-After"]) >= 1


def _pkce(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def test_oauth_code_with_pkce_refresh_client_credentials_and_invalid_grant() -> None:
    require_salesforce_collection()
    sim = SalesforceSimulator()
    sim.oauth.register("3MVG9.app", "s3cret")
    verifier = "x" * 64
    async with sim, httpx.AsyncClient(base_url=sim.url) as http:
        authorize = await http.get(
            "/services/oauth2/authorize",
            params={"response_type": "code", "client_id": "3MVG9.app", "redirect_uri": "http://127.0.0.1:9/cb",
                    "state": "st", "code_challenge": _pkce(verifier), "code_challenge_method": "S256"},
        )  # fmt: skip
        assert authorize.status_code == 302
        code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "client_id": "3MVG9.app", "client_secret": "s3cret",
                "redirect_uri": "http://127.0.0.1:9/cb", "code": code}  # fmt: skip
        wrong = await http.post("/services/oauth2/token", data={**form, "code_verifier": "y" * 64})
        assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")  # the code is spent too

        authorize = await http.get(authorize.request.url)
        form["code"] = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
        tokens = (await http.post("/services/oauth2/token", data={**form, "code_verifier": verifier})).json()
        assert tokens["instance_url"] == sim.url and tokens["token_type"] == "Bearer"
        expected = hmac.new(b"s3cret", (tokens["id"] + tokens["issued_at"]).encode(), hashlib.sha256).digest()
        assert base64.b64decode(tokens["signature"]) == expected
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get(f"{DATA}/sobjects/", headers=bearer)).status_code == 200

        reused = await http.post("/services/oauth2/token", data={**form, "code_verifier": verifier})
        assert reused.json()["error"] == "invalid_grant"
        refresh = {"grant_type": "refresh_token", "client_id": "3MVG9.app", "client_secret": "s3cret",
                   "refresh_token": tokens["refresh_token"]}  # fmt: skip
        renewed = (await http.post("/services/oauth2/token", data=refresh)).json()
        assert "refresh_token" not in renewed and renewed["access_token"] != tokens["access_token"]

        basic = base64.b64encode(b"3MVG9.app:s3cret").decode()
        machine = await http.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert machine.status_code == 200 and "refresh_token" not in machine.json()

        await http.post("/services/oauth2/revoke", data={"token": tokens["refresh_token"]})
        revoked = await http.post("/services/oauth2/token", data=refresh)
        assert revoked.json()["error"] == "invalid_grant"
        bad_client = await http.post("/services/oauth2/token", data={**refresh, "client_secret": "nope"})
        assert (bad_client.status_code, bad_client.json()["error"]) == (400, "invalid_client")
    assert sim.oauth.grants == ["authorization_code", "refresh_token", "client_credentials"]
    assert_no_mismatches(sim)
