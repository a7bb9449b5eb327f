"""The MCP tools and resources through the official client, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client

import hubwire
from hubwire.events import register
from hubwire.hub import Hub
from hubwire.jobs import queue
from hubwire.mcp import build_server
from hubwire.mcp.server import EVENT_TYPES_URI, NOUNS_URI, PROVIDERS_URI
from hubwire.store.events import read_after
from hubwire.sync.runs import list_runs
from hubwire.vault.credentials import load_credentials
from hubwire.webhooks.attempts import send_test
from tests.api.conftest import ACME_SECRET, AcmeProvider
from tests.mcp.conftest import call, error_of


async def test_tool_schemas_list_every_noun_with_its_fields_and_verbs(mhub: Hub) -> None:
    async with Client(build_server(mhub)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == {"search", "fetch", "do"}
        noun_type = listed["search"].input_schema["properties"]["type"]
        assert {"Deal", "Integration", "Customer"} <= set(noun_type["enum"])
        assert "Deal (A sales opportunity.): fields name: string!" in noun_type["description"]
        assert {"close", "connect", "sync", "create"} <= set(listed["do"].input_schema["properties"]["verb"]["enum"])
        assert "error" not in listed["do"].input_schema["properties"]["verb"]["enum"]  # Integration's internal verb

        hubwire.Noun("Ticket", {"title": "string!", "resolve": "Resolved", "state": "Open | Resolved"})
        again = {t.name: t for t in (await client.list_tools()).tools}
        assert "Ticket" in again["do"].input_schema["properties"]["type"]["enum"]
        assert "resolve" in again["do"].input_schema["properties"]["verb"]["enum"]
        created = await call(client, "do", type="Ticket", verb="create", args={"title": "declared after the server"})
        assert created["$id"].startswith("ticket_")


async def test_search_filters_sorts_and_pages(mhub: Hub, deal: hubwire.Noun) -> None:
    async with Client(build_server(mhub)) as client:
        for i in range(5):
            await deal.create(name=f"d{i}", value=i * 10, stage="Open" if i % 2 == 0 else "Lost")
        seen: list[str] = []
        cursor = None
        while True:
            page = await call(
                client, "search", type="Deal", filter={"value": {"$gte": 10}}, sort="-value", limit=2, cursor=cursor
            )
            seen += [d["name"] for d in page["data"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        assert seen == ["d4", "d3", "d2", "d1"]
        lost = await call(client, "search", type="Deal", filter={"stage": {"$in": ["Lost"]}})
        assert sorted(d["name"] for d in lost["data"]) == ["d1", "d3"]
        bad = await error_of(client, "search", type="Deal", filter={"colour": "red"})
        assert bad["code"] == "validation_error"
        unknown = await error_of(client, "search", type="Unicorn")
        assert unknown["code"] == "validation_error" and "Unicorn" in unknown["message"]


async def test_do_creates_updates_runs_custom_verbs_and_deletes(mhub: Hub, deal: hubwire.Noun) -> None:
    async with Client(build_server(mhub)) as client:
        created = await call(
            client, "do", type="Deal", verb="create", args={"name": "Acme", "value": 5, "stage": "Open"}
        )
        did = created["$id"]
        assert created["version"] == 1 and created["$type"] == "Deal"
        updated = await call(client, "do", type="Deal", verb="update", id=did, args={"value": 50}, version=1)
        assert updated["value"] == 50 and updated["version"] == 2
        stale = await error_of(client, "do", type="Deal", verb="update", id=did, args={"value": 1}, version=1)
        assert stale["code"] == "version_conflict"
        closed = await call(client, "do", type="Deal", verb="close", id=did)
        assert closed["stage"] == "Closed"
        assert (await deal.get(did))["stage"] == "Closed"  # through the same Noun the SDK uses
        gone = await call(client, "do", type="Deal", verb="delete", id=did)
        assert gone["$id"] == did
        missing = await error_of(client, "fetch", id=did)
        assert missing["code"] == "not_found"
        no_id = await error_of(client, "do", type="Deal", verb="close")
        assert no_id["code"] == "validation_error"
        no_verb = await error_of(client, "do", type="Deal", verb="fly", id=did)
        assert no_verb["code"] == "validation_error" and "fly" in no_verb["message"]


async def test_a_veto_hook_and_an_illegal_transition_are_tool_errors_with_their_codes(
    mhub: Hub, deal: hubwire.Noun
) -> None:
    async with Client(build_server(mhub)) as client:
        closed = await deal.create(name="won", stage="Closed")
        illegal = await error_of(client, "do", type="Deal", verb="lose", id=closed.id)
        assert illegal["code"] == "illegal_transition" and illegal["from_state"] == "Closed"

        @deal.closing
        def only_priced(d: Any) -> None:
            if not d.value:
                raise ValueError("a deal needs a value before it closes")

        unpriced = await deal.create(name="free", stage="Open")
        veto = await error_of(client, "do", type="Deal", verb="close", id=unpriced.id)
        assert veto["code"] == "vetoed" and veto["message"] == "a deal needs a value before it closes"
        assert (await deal.get(unpriced.id))["stage"] == "Open" and (await deal.get(unpriced.id)).version == 1
        read_only = await error_of(
            client, "do", type="Integration", verb="create", args={"name": "x", "status": "Synced"}
        )
        assert read_only["code"] == "validation_error" and read_only["errors"][0]["field"] == "status"


async def test_connect_sync_disconnect_and_fetch_every_id_kind_without_a_secret(mhub: Hub) -> None:
    async with Client(build_server(mhub)) as client:
        results: list[dict[str, Any]] = []

        async def keep(tool: str, **arguments: Any) -> dict[str, Any]:
            results.append(await call(client, tool, **arguments))
            return results[-1]

        refused = await error_of(
            client, "do", type="Integration", verb="connect", args={"provider": "acme", "api_key": "x"}
        )
        assert refused["code"] == "provider_auth_failed"
        connected = await keep(
            "do", type="Integration", verb="connect", args={"provider": "acme", "api_key": ACME_SECRET}
        )
        iid = connected["$id"]
        assert connected["status"] == "Connected" and "withheld" not in connected
        (job,) = await queue.list_jobs(mhub, kind="integration.sync")  # the initial sync connect enqueued
        fetched_job = await keep("fetch", id=f"job_{job.id}")
        assert fetched_job["id"] == job.id and fetched_job["payload"]["integration_id"] == iid
        synced = await keep("do", type="Integration", verb="sync", id=iid, args={"wait": True})
        assert synced["status"] == "Synced" and synced["last_sync_count"] == AcmeProvider.records
        assert [i["$id"] for i in (await keep("search", type="Integration", filter={"status": "Active"}))["data"]] == [
            iid
        ]

        assert (await keep("fetch", id=iid))["provider"] == "acme"
        assert (await keep("fetch", id=iid, type="Integration"))["$id"] == iid
        async with mhub.read() as conn:
            first_event = (await read_after(conn, 0, entity_id=iid))[0]
        event = await keep("fetch", id=first_event.id)
        assert event["event"] == "Integration.Created" and event["entity_id"] == iid
        (run,) = await list_runs(mhub, iid)
        fetched_run = await keep("fetch", id=run.id)
        assert fetched_run["status"] == "succeeded" and fetched_run["integration_id"] == iid

        # A webhook endpoint connected without a secret: the generated one is withheld, never returned.
        endpoint = await keep(
            "do",
            type="Integration",
            verb="connect",
            args={"provider": "webhook", "url": "http://127.0.0.1:9/hooks", "events": ["Deal.Closed"]},
        )
        assert endpoint["withheld"] == ["secret"] and "secret" not in endpoint
        signing_secret = (await load_credentials(mhub, endpoint["$id"]))["secret"]
        token = mhub.activate()
        try:
            delivery = await send_test(mhub, endpoint["$id"])  # queued only: no worker runs here
        finally:
            token.var.reset(token)
        fetched_delivery = await keep("fetch", id=delivery.id)
        assert fetched_delivery["endpoint_id"] == endpoint["$id"] and fetched_delivery["attempts"] == []

        for missing in ("evt_nothing", "syncrun_nothing", "msg_nothing", "job_999999"):
            assert (await error_of(client, "fetch", id=missing))["code"] == "not_found"
        assert (await error_of(client, "fetch", id="nothing"))["code"] == "unknown_id"

        gone = await keep("do", type="Integration", verb="disconnect", id=iid)
        assert gone["status"] == "Disconnected"
        everything = json.dumps(results)
        for secret in (ACME_SECRET, signing_secret):
            assert secret not in everything


async def test_resources_describe_the_nouns_and_the_providers(mhub: Hub, acme: AcmeProvider) -> None:
    async with Client(build_server(mhub)) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == {NOUNS_URI, PROVIDERS_URI, EVENT_TYPES_URI}
        nouns = json.loads((await client.read_resource(NOUNS_URI)).contents[0].text)  # type: ignore[union-attr]
        deal = nouns["Deal"]
        assert deal["fields"]["stage"] == {
            "type": "string",
            "enum": ["Open", "Closed", "Lost"],
            "required": False,
            "indexed": False,
            "unique": False,
        }
        assert deal["verbs"]["close"] == {
            "event": "Deal.Closed",
            "hooks": ["closing", "closed"],
            "builtin": False,
            "moves": {"field": "stage", "to": "Closed"},
        }
        assert deal["states"]["stage"] == {"Open": ["Closed", "Lost"], "Closed": [], "Lost": ["Open"]}
        assert nouns["Integration"]["filter_aliases"] == {"status": {"Active": ["Connected", "Synced"]}}
        assert "error" not in nouns["Integration"]["verbs"]
        providers = json.loads((await client.read_resource(PROVIDERS_URI)).contents[0].text)  # type: ignore[union-attr]
        mine = next(p for p in providers if p["slug"] == "acme")
        assert mine["credential_fields"] == ["api_key"] and mine["config_fields"] == ["region"]
        register("Order.Shipped", schema={"type": "object", "properties": {"order": {"type": "string"}}})
        types = json.loads((await client.read_resource(EVENT_TYPES_URI)).contents[0].text)  # type: ignore[union-attr]
        by_name = {t["name"]: t for t in types}
        assert by_name["Deal.Closed"]["example"]["stage"] == "Closed" and by_name["Deal.Closed"]["noun"] == "Deal"
        assert by_name["Order.Shipped"]["source"] == "registered" and "Integration.Errored" in by_name


async def test_a_verb_implemented_in_python_says_what_its_arguments_lack(mhub: Hub) -> None:
    async with Client(build_server(mhub)) as client:
        no_id = await error_of(client, "do", type="Integration", verb="sync")
        assert no_id["code"] == "validation_error" and "integration_id" in no_id["message"]
        unknown = await error_of(client, "do", type="Integration", verb="sync", id="integration_x", args={"fast": 1})
        assert unknown["code"] == "validation_error" and "fast" in unknown["message"]
        stale = await error_of(client, "do", type="Integration", verb="disconnect", id="integration_x", version=1)
        assert stale["code"] == "validation_error" and stale["errors"][0]["field"] == "version"
