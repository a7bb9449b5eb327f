"""Field mappings over REST, against the Pipedrive simulator on loopback: remote fields, a refused
save (422, nothing saved), a saved version by the key's name, the mapped entity over the Noun routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import hubwire
from hubwire.domains.platform import Integration, run_sync
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from tests.connectors.loopback import LOOPBACK
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches

PROBLEM = "application/problem+json"


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _dial_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")


@pytest.fixture
async def sim(hub: hubwire.Hub) -> AsyncIterator[PipedriveSimulator]:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))
    async with PipedriveSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


async def test_list_fields_set_mappings_and_read_the_mapped_entity(
    hub: hubwire.Hub, client: httpx.AsyncClient, sim: PipedriveSimulator
) -> None:
    tier = sim.add_field("persons", "Tier", "enum", options=["Gold", "Silver"])
    shoe = sim.add_field("persons", "Shoe size", "double")
    sim.seed("persons", name="Gold Person", **{tier: 1, shoe: 38})
    iid = (await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)).id
    base = f"/v1/integrations/{iid}"

    r = await client.get(f"{base}/remote-fields", params={"noun": "Contact"})
    assert r.status_code == 200
    listed = {f["name"]: f for f in r.json()["data"]}
    assert listed[tier] == {
        "name": tier,
        "label": "Tier",
        "type": "enum",
        "options": [{"value": "1", "label": "Gold"}, {"value": "2", "label": "Silver"}],
        "custom": True,
        "writable": True,
    }
    assert (await client.get(f"{base}/remote-fields", params={"noun": "Invoice"})).status_code == 422

    bad = {"mappings": [{"remote": tier, "field": "organization"}, {"remote": "nope", "field": "title"}]}
    r = await client.put(f"{base}/mappings/Contact", json=bad)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("Contact[0].field", "relation"),
        ("Contact[1].remote", "unknown_remote_field"),
    ]
    assert (await client.get(f"{base}/mappings")).json() == {"integration_id": iid, "version": None, "mappings": {}}
    assert (await client.put(f"{base}/mappings/Contact", json=[])).status_code == 422  # not {"mappings": [...]}

    good = {
        "mappings": [
            {"remote": tier, "field": "lifecycleStage", "transform": {"type": "enum", "map": {"1": "customer"}}}
        ]
    }
    r = await client.put(f"{base}/mappings/Contact", json=good)
    assert r.status_code == 200
    saved = r.json()
    assert (saved["version"], saved["saved_by"]) == (1, "tests")  # the API key's name
    stored = [
        {"remote": tier, "field": "lifecycle_stage", "transform": good["mappings"][0]["transform"], "direction": "both"}
    ]
    assert saved["mappings"] == {"Contact": stored}
    assert (await client.get(f"{base}/mappings")).json()["version"] == 1
    assert (await client.get(f"{base}/mappings/Contact")).json()["mappings"] == stored
    assert (await client.get(f"{base}/mappings/Deal")).json()["mappings"] == []
    versions = (await client.get(f"{base}/mappings/versions")).json()["data"]
    assert [v["version"] for v in versions] == [1] and versions[0]["saved_at"].endswith("Z")

    await run_sync(hub, iid)
    found = (await client.get("/v1/contacts", params={"last_name": "Gold Person"})).json()["data"]
    assert found[0]["lifecycle_stage"] == "customer" and found[0]["remote_data"] == {shoe: 38}
    one = (await client.get(f"/v1/contacts/{found[0]['$id']}")).json()
    assert one["remote_data"] == {shoe: 38}
