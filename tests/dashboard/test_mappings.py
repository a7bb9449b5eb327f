"""The field mappings page of a CRM integration, against the Pipedrive simulator on loopback: the
remote fields from its metadata, a refused save shown next to the form (nothing saved), a mapping
added, changed and removed (each a version, by the key's name), what the next sync makes of it,
and the scopes: a read key sees the page and cannot save."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

import hubwire
from hubwire.api.keys import create_api_key
from hubwire.domains.crm import Contact
from hubwire.domains.platform import Integration, run_sync
from hubwire.mappings.edit import get_mappings, list_mapping_versions
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from tests.connectors.loopback import LOOPBACK
from tests.dashboard.conftest import browser, sign_in
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def sim(hub: hubwire.Hub) -> AsyncIterator[PipedriveSimulator]:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))
    async with PipedriveSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


@pytest.fixture
async def writer(hub: hubwire.Hub, app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A signed-in browser with a write key (what saving a mapping needs), and its CSRF token."""
    _, key = await create_api_key(hub, "ops", "write")
    async with browser(app) as c:
        yield c, await sign_in(c, key)


def rows(page: str, table: str) -> list[str]:
    """The text of each row of the table with that id, tags stripped."""
    body = page.split(f'id="{table}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    cells = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


async def test_add_change_and_remove_a_mapping_then_sync(
    hub: hubwire.Hub, writer: tuple[httpx.AsyncClient, str], sim: PipedriveSimulator
) -> None:
    c, csrf = writer
    tier = sim.add_field("persons", "Tier", "enum", options=["Gold", "Silver"])
    sim.seed("persons", name="Gold Person", **{tier: 1})
    iid = (await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)).id

    detail = (await c.get(f"/integrations/{iid}")).text
    assert f'href="/integrations/{iid}/mappings"' in detail
    page = await c.get(f"/integrations/{iid}/mappings?noun=Contact")
    assert page.status_code == 200
    remote = rows(page.text, "remote-fields")
    assert f"{tier} Tier enum custom 1 Gold, 2 Silver" in remote
    assert any(r.startswith("name Name string standard") for r in remote)
    assert rows(page.text, "current") == ["No mappings of Contact: the defaults apply."]
    assert rows(page.text, "versions") == ["Never saved."]

    # Refused: a value the remote field does not take, onto a Noun field; every problem shown, nothing saved.
    bad = {"csrf": csrf, "remote": tier, "field": "lifecycle_stage", "transform": "enum", "map": "7 = customer"}
    r = await c.post(f"/integrations/{iid}/mappings/Contact", data=bad)
    assert r.status_code == 422
    errors = r.text.split('id="mapping-errors"', 1)[1].split("</div>", 1)[0]
    assert "Contact[0].transform.map" in html.unescape(errors) and "7" in errors
    assert f'<option value="{tier}" selected>' in r.text and "7 = customer</textarea>" in r.text  # kept, to fix
    assert await get_mappings(iid, hub=hub) == {} and await list_mapping_versions(iid, hub=hub) == []
    r = await c.post(f"/integrations/{iid}/mappings/Contact", data={**bad, "map": "no equals sign"})
    assert r.status_code == 422 and "line 1 of the enum map" in r.text

    good = {**bad, "map": "1 = customer\n2 = lead\n"}
    r = await c.post(f"/integrations/{iid}/mappings/Contact", data=good)
    assert r.status_code == 303 and r.headers["location"] == f"/integrations/{iid}/mappings?noun=Contact"
    page = await c.get(r.headers["location"])
    assert rows(page.text, "current") == [f"Tier {tier} lifecycle_stage enum: 1 → customer , 2 → lead both Remove"]
    assert rows(page.text, "versions")[0].startswith("1 ") and " ops " in rows(page.text, "versions")[0]

    await run_sync(hub, iid)
    (person,) = await Contact.find({"last_name": "Gold Person"})
    assert person["lifecycle_stage"] == "customer"

    # Changed: the same Noun field, another map (it replaces the mapping); then one added, one removed.
    changed = {**good, "map": "1 = lead"}
    assert (await c.post(f"/integrations/{iid}/mappings/Contact", data=changed)).status_code == 303
    page = await c.get(f"/integrations/{iid}/mappings?noun=Contact")
    assert rows(page.text, "current") == [f"Tier {tier} lifecycle_stage enum: 1 → lead both Remove"]
    added = {"csrf": csrf, "remote": tier, "field": "title", "transform": "string", "direction": "pull"}
    assert (await c.post(f"/integrations/{iid}/mappings/Contact", data=added)).status_code == 303
    assert [m["field"] for m in (await get_mappings(iid, hub=hub))["Contact"]] == ["lifecycle_stage", "title"]
    removed = {"csrf": csrf, "remove": "lifecycle_stage"}
    assert (await c.post(f"/integrations/{iid}/mappings/Contact", data=removed)).status_code == 303
    assert (await get_mappings(iid, hub=hub))["Contact"] == [
        {"remote": tier, "field": "title", "transform": {"type": "string"}, "direction": "pull"}
    ]
    page = await c.get(f"/integrations/{iid}/mappings?noun=Contact")
    assert [r.split(" ")[0] for r in rows(page.text, "versions")] == ["4", "3", "2", "1"]
    assert rows(page.text, "current") == [f"Tier {tier} title string pull Remove"]


async def test_a_read_key_sees_the_page_and_cannot_save(
    hub: hubwire.Hub, app: FastAPI, sim: PipedriveSimulator
) -> None:
    iid = (await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)).id
    _, key = await create_api_key(hub, "viewer", "read")
    async with browser(app) as c:
        csrf = await sign_in(c, key)
        page = await c.get(f"/integrations/{iid}/mappings?noun=Deal")
        assert page.status_code == 200 and 'aria-current="page">Deal<' in page.text
        r = await c.post(f"/integrations/{iid}/mappings/Deal", data={"csrf": csrf, "remote": "title", "field": "name"})
        assert r.status_code == 403 and "insufficient_scope" in r.text
        forged = await c.post(f"/integrations/{iid}/mappings/Deal", data={"remote": "title", "field": "name"})
        assert forged.status_code == 403 and "csrf" in forged.text
    assert await list_mapping_versions(iid, hub=hub) == []


async def test_a_provider_without_field_mappings_has_no_page(
    hub: hubwire.Hub, writer: tuple[httpx.AsyncClient, str]
) -> None:
    c, csrf = writer
    ep = await Integration.connect(provider="webhook", url="http://127.0.0.1:9/hooks", events=["Deal.*"])
    assert "/mappings" not in (await c.get(f"/integrations/{ep.id}")).text
    r = await c.get(f"/integrations/{ep.id}/mappings")
    assert r.status_code == 422 and "webhook takes no field mappings" in r.text
    r = await c.post(f"/integrations/{ep.id}/mappings/Contact", data={"csrf": csrf, "remote": "a", "field": "b"})
    assert r.status_code == 422 and "maps no Noun" in html.unescape(r.text)
    assert (await c.get("/integrations/integration_nope/mappings")).status_code == 404
