"""``hubwire Integration.use`` and the blocking face's ``Integration.use``: direct provider calls
against the simulators (served from a thread: the CLI and the blocking face run their own loops),
with the provider's refusals as one readable line (CLI) or a typed error (blocking) carrying its
code and message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import hubwire.hub
from hubwire import blocking
from hubwire.errors import ProviderInvalidRequest
from hubwire.settings import Settings
from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.simulators.salesforce import API_VERSION, DEFAULT_SESSION, SalesforceSimulator
from tests.cli.conftest import Cli
from tests.conftest import TEST_SECRET
from tests.simulators.crm_fixtures import assert_no_mismatches, require_salesforce_collection


@pytest.fixture
def salesforce() -> Iterator[SalesforceSimulator]:
    require_salesforce_collection()
    sim = SalesforceSimulator()
    with sim.serving_in_thread():
        yield sim
    assert_no_mismatches(sim)


@pytest.fixture
def hubspot() -> Iterator[HubSpotSimulator]:
    sim = HubSpotSimulator(rate_limit=None)
    with sim.serving_in_thread():
        yield sim
    assert_no_mismatches(sim)


@pytest.fixture
def private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")  # the simulators listen on loopback


def test_cli_use_requests_creates_lists_and_says_the_providers_refusal(
    cli: Cli, private: None, salesforce: SalesforceSimulator
) -> None:
    salesforce.seed("Account", Name="Acme")
    salesforce.state.add_field("Lead", "Code__c", unique=True)
    connected = cli(
        "Integration.connect", "--provider", "salesforce", "--access-token", DEFAULT_SESSION,
        "--instance-url", salesforce.url, "--json",
    )  # fmt: skip
    assert connected.code == 0, connected.err
    iid = json.loads(connected.out)["$id"]

    made = cli(
        "Integration.use",
        "salesforce",
        "create",
        "Lead",
        "--data",
        '{"LastName": "Lovelace", "Company": "Acme", "Code__c": "L1"}',
    )
    assert made.code == 0, made.err
    lead_id = json.loads(made.out)["id"]
    got = cli("Integration.use", iid, "request", "GET", f"/services/data/v{API_VERSION}/sobjects/Lead/{lead_id}")
    answer = json.loads(got.out)
    assert answer["status"] == 200 and answer["body"]["Company"] == "Acme"
    updated = cli("Integration.use", iid, "update", "Lead", lead_id, "--data", '{"Company": "Globex"}')
    assert json.loads(updated.out)["Company"] == "Globex"
    listed = cli("Integration.use", "salesforce", "list", "Account", "--limit", "5")
    assert [a["Name"] for a in json.loads(listed.out)] == ["Acme"]

    missing = cli("Integration.use", "salesforce", "create", "Lead", "--data", '{"FirstName": "No"}')
    assert missing.code == 1 and missing.out == ""
    assert missing.err.count("\n") == 1 and missing.err.startswith("error: REQUIRED_FIELD_MISSING: ")
    assert "LastName" in missing.err and missing.err.rstrip().endswith("(REQUIRED_FIELD_MISSING)")
    dup = cli(
        "Integration.use",
        "salesforce",
        "create",
        "Lead",
        "--data",
        '{"LastName": "B", "Company": "C", "Code__c": "L1"}',
    )
    assert dup.code == 1 and dup.err.rstrip().endswith("(DUPLICATE_VALUE)") and dup.err.count("\n") == 1
    assert DEFAULT_SESSION not in missing.err + dup.err + got.out

    # The command line's own mistakes: one line each, nothing sent.
    sent = len(salesforce.requests)
    for args, said in [
        (("salesforce", "create", "Lead"), "needs --data"),
        (("salesforce", "create", "Lead", "--data", "[1]"), "--data must be a JSON object"),
        (("salesforce", "fly", "Lead"), "needs an Integration and an action"),
        (("salesforce", "get", "Lead"), "takes 2 argument(s)"),
        (("salesforce", "list", "Lead", "--limit", "0"), "--limit is a positive integer"),
        (("salesforce", "list", "Lead", "--nope"), "does not take --nope"),
    ]:
        bad = cli("Integration.use", *args)
        assert bad.code == 2 and said in bad.err and bad.err.count("\n") == 1, (args, bad.err)
    assert len(salesforce.requests) == sent
    assert "request METHOD PATH" in cli("Integration.use", "--help").out


def test_cli_use_hubspot_objects_and_its_conflict(cli: Cli, private: None, hubspot: HubSpotSimulator) -> None:
    hubspot.seed("contacts", {"email": "ada@acme.example"})
    connected = cli(
        "Integration.connect", "--provider", "hubspot", "--access-token", DEFAULT_TOKEN,
        "--api-base-url", hubspot.url,
    )  # fmt: skip
    assert connected.code == 0, connected.err
    listed = json.loads(cli("Integration.use", "hubspot", "list", "Contact").out)
    assert [c["properties"]["email"] for c in listed] == ["ada@acme.example"]
    dup = cli(
        "Integration.use", "hubspot", "create", "contact", "--data", '{"properties": {"email": "ada@acme.example"}}'
    )
    assert dup.code == 1 and "Contact already exists" in dup.err and dup.err.count("\n") == 1


@pytest.fixture
def blocking_hub(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The blocking face's default hub on a private SQLite file (and forgotten afterwards)."""
    target = tmp_path / "blocking.db"
    target.write_bytes(sqlite_template.read_bytes())
    settings = Settings(database_url=f"sqlite:///{target}", secret_key=TEST_SECRET, allow_private_networks=True)
    monkeypatch.setattr(hubwire.hub, "_default_settings", settings)
    yield
    blocking.run(_close_default())


async def _close_default() -> None:
    import asyncio

    made = hubwire.hub._defaults.pop(asyncio.get_running_loop(), None)
    if made is not None:
        await made.close()


def test_blocking_use_creates_lists_requests_and_raises_typed_errors(
    blocking_hub: None, salesforce: SalesforceSimulator
) -> None:
    salesforce.seed("Account", Name="Acme")
    blocking.Integration.connect(provider="salesforce", access_token=DEFAULT_SESSION, instance_url=salesforce.url)
    crm = blocking.Integration.use("salesforce")
    assert isinstance(crm, blocking.SyncClient)
    made = crm.create("Lead", {"LastName": "Hopper", "Company": "Navy"})
    assert made["success"] is True
    assert crm.update("Lead", made["id"], {"Company": "US Navy"})["Company"] == "US Navy"
    assert crm.get("Lead", made["id"])["Company"] == "US Navy"
    assert [a["Name"] for a in crm.list("Account")] == ["Acme"]
    answer = crm.request("GET", f"/services/data/v{API_VERSION}/sobjects/Account/describe")
    assert answer.status == 200 and answer.body["name"] == "Account"
    with pytest.raises(ProviderInvalidRequest) as missing:
        crm.create("Lead", {"FirstName": "No"})
    assert missing.value.code == "REQUIRED_FIELD_MISSING" and "LastName" in missing.value.message
