"""The inbox over REST (list with filters and pages, show, replay, stats) and the CLI (`hubwire hooks`)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

import hubwire
from hubwire import Entity, Integration, Worker
from hubwire.api.keys import create_api_key
from hubwire.api.scopes import Scope
from hubwire.connectors.registry import default_registry
from hubwire.hub import Hub
from hubwire.inbound.verifiers import WebhookRequest
from tests.cli.conftest import Cli, cli, cli_any_db, cli_env  # noqa: F401  (fixtures)
from tests.inbound.conftest import HOOK_SECRET, HookyProvider, github_signed


async def test_list_show_replay_and_stats_over_rest(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, ticket: hubwire.Noun
) -> None:
    other = await Integration.connect(provider="hooky", slug="hooky-2", webhook_secret=HOOK_SECRET)
    ids = {}
    for target, delivery, payload, event in [
        (connected, "d-1", {"action": "opened", "title": "one"}, "issues"),
        (connected, "d-2", {"action": "refuse"}, "issues"),
        (other, "d-3", {"action": "ignore"}, "ping"),
    ]:
        body, headers = github_signed(payload, delivery, event=event)
        ids[delivery] = (await served.post(f"/v1/hooks/{target.id}", content=body, headers=headers)).json()["id"]
    await Worker(ihub).drain()

    _, key = await create_api_key(ihub, "reader", Scope.READ)
    reader = {"Authorization": f"Bearer {key}"}
    listed = (await served.get("/v1/hooks/received", headers=reader)).json()
    assert [h["id"] for h in listed["data"]] == [ids["d-3"], ids["d-2"], ids["d-1"]]  # newest first
    assert "body" not in listed["data"][0] and listed["next_before"] is None

    async def select(**params: str) -> list[str]:
        r = await served.get("/v1/hooks/received", params=params, headers=reader)
        assert r.status_code == 200, r.text
        return [h["id"] for h in r.json()["data"]]

    assert await select(integration=connected.id) == [ids["d-2"], ids["d-1"]]
    assert await select(status="failed") == [ids["d-2"]]
    assert await select(event_type="ping.ignore") == [ids["d-3"]]
    assert await select(event_type="issues.opened", status="applied") == [ids["d-1"]]
    page = (await served.get("/v1/hooks/received", params={"limit": 2}, headers=reader)).json()
    assert page["next_before"] == ids["d-2"]
    assert await select(before=page["next_before"]) == [ids["d-1"]]
    bad = await served.get("/v1/hooks/received", params={"status": "lost"}, headers=reader)
    assert bad.status_code == 422

    shown = (await served.get(f"/v1/hooks/received/{ids['d-1']}", headers=reader)).json()
    assert shown["status"] == "applied" and shown["event_id"] == "d-1" and shown["body_encoding"] == "utf-8"
    assert '"title": "one"' in shown["body"] and "x-hub-signature-256" not in shown["headers"]
    assert (await served.get("/v1/hooks/received/hook_none", headers=reader)).status_code == 404

    # Replay needs write.
    assert (await served.post(f"/v1/hooks/received/{ids['d-2']}/replay", headers=reader)).status_code == 403
    _, wkey = await create_api_key(ihub, "writer", Scope.WRITE)
    r = await served.post(f"/v1/hooks/received/{ids['d-2']}/replay", headers={"Authorization": f"Bearer {wkey}"})
    assert r.status_code == 200 and r.json()["status"] == "received"
    again = await served.post(f"/v1/hooks/received/{ids['d-2']}/replay", headers={"Authorization": f"Bearer {wkey}"})
    assert again.status_code == 409 and again.json()["code"] == "apply_pending"

    stats = (await served.get("/v1/hooks/stats", params={"integration": other.id}, headers=reader)).json()
    assert stats == {"data": [{"integration_id": other.id, "outcome": "received", "count": 1}]}
    assert (await served.get("/v1/hooks/received")).status_code == 401  # the inbox needs a key


def test_hooks_cli(cli: Cli) -> None:  # noqa: F811
    hooky = HookyProvider()
    default_registry.register(hooky)
    try:
        ticket = hubwire.Noun("Ticket", {"title": "string!", "ref": "string##"})

        async def setup() -> tuple[str, str]:
            async with Hub() as hub:
                integration = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
                made = []
                for delivery, payload in [("d-1", {"action": "opened", "title": "one"}), ("d-2", {"action": "refuse"})]:
                    body, headers = github_signed(payload, delivery)
                    stored = await hubwire.inbound.receive(hub, integration.id, WebhookRequest(body, headers))
                    made.append(stored.id)
                await Worker(hub).drain()
                return made[0], made[1]

        applied, failed = asyncio.run(setup())
        listed = cli("hooks", "received")
        assert listed.code == 0 and applied in listed.out and failed in listed.out
        only = cli("hooks", "received", "--status", "failed", "--json")
        assert only.code == 0 and [h["id"] for h in json.loads(only.out)] == [failed]
        assert cli("hooks", "received", "--event-type", "nothing").err.strip() == "no webhooks received"
        shown = cli("hooks", "show", failed)
        assert shown.code == 0 and "failed" in shown.out and "without a title" in shown.out
        replayed = cli("hooks", "replay", failed)
        assert replayed.code == 0 and f"replaying {failed}" in replayed.out
        pending = cli("hooks", "replay", failed)
        assert pending.code == 1 and "(apply_pending)" in pending.err
        wrong = cli("hooks", "received", "--status", "lost")
        assert wrong.code == 2 and "--status must be one of" in wrong.err
        assert cli("hooks", "show", "hook_none").code == 1
        assert [t.title for t in asyncio.run(_tickets(ticket))] == ["one"]
    finally:
        default_registry.unregister("hooky")


def test_hooks_stats_cli_counts_per_integration_and_outcome(cli_any_db: Cli) -> None:  # noqa: F811
    hooky = HookyProvider()
    default_registry.register(hooky)
    try:

        async def receive() -> tuple[str, str]:
            async with Hub() as hub:
                first = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
                second = await Integration.connect(provider="hooky", slug="hooky-2", webhook_secret=HOOK_SECRET)
                body, headers = github_signed({"action": "ignore"}, "d-1")
                forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
                for target, sent in [(first, headers), (first, headers), (second, headers), (second, forged)]:
                    with contextlib.suppress(hubwire.inbound.SignatureError):
                        await hubwire.inbound.receive(hub, target.id, WebhookRequest(body, sent))
                with contextlib.suppress(hubwire.NotFoundError):
                    await hubwire.inbound.receive(hub, "integration_none", WebhookRequest(body, headers))
                return first.id, second.id

        assert cli_any_db("hooks", "stats").err.strip() == "no webhooks counted"
        first, second = asyncio.run(receive())
        shown = cli_any_db("hooks", "stats")
        assert shown.code == 0
        lines = shown.out.replace("┃", "│").splitlines()
        rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "│" in line]
        assert rows == [
            ["integration", "received", "duplicate", "bad_signature", "no_hook_receiver"],
            ["(no receiver)", "0", "0", "0", "1"],
            *sorted([[first, "1", "1", "0", "0"], [second, "1", "0", "1", "0"]]),  # by integration id
        ]
        one = cli_any_db("hooks", "stats", "--integration", second, "--json")
        assert one.code == 0 and json.loads(one.out) == [
            {"integration_id": second, "outcome": "bad_signature", "count": 1},
            {"integration_id": second, "outcome": "received", "count": 1},
        ]
    finally:
        default_registry.unregister("hooky")


async def _tickets(ticket: hubwire.Noun) -> list[Entity]:
    async with Hub():
        return list(await ticket.find({}))


async def test_the_counts_of_every_process_add_up_in_the_database(ihub: Hub, connected: Entity) -> None:
    """Counted in memory, written in one statement now and then: two hubs (two processes) add up."""
    body, headers = github_signed({"action": "opened", "title": "x"}, "d-1")
    request = WebhookRequest(body, headers)
    forged = WebhookRequest(body, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    async with Hub(ihub.settings, providers=ihub.providers) as other:
        for hub in (ihub, other):
            await hubwire.inbound.receive(hub, connected.id, request)
            for _ in range(3):
                with contextlib.suppress(hubwire.inbound.SignatureError):
                    await hubwire.inbound.receive(hub, connected.id, forged)
        assert await hubwire.inbound.stats(other, connected.id) == [
            {"integration_id": connected.id, "outcome": "bad_signature", "count": 3},
            {"integration_id": connected.id, "outcome": "duplicate", "count": 1},
        ]  # only what the other hub wrote so far: this hub's counts are still in its memory
    counts = {r["outcome"]: r["count"] for r in await hubwire.inbound.stats(ihub, connected.id)}
    assert counts == {"bad_signature": 6, "received": 1, "duplicate": 1}
