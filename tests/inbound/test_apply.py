"""The inbound.apply job: applied, ignored, failed, retried; replay; retention; the Integration's hook URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import hubwire
from hubwire import ConflictError, Entity, Integration, NotFoundError, Worker, inbound
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.store.tables import inbound_hooks
from tests.api.conftest import rest_client
from tests.conftest import make_hub
from tests.fakes import GOOD_KEY, ApiKeyProvider, FakeClock
from tests.inbound.conftest import HOOK_SECRET, PUBLIC_URL, HookyProvider, github_signed

DAY = 86400.0


async def post(client: httpx.AsyncClient, integration: Entity, payload: dict[str, object], delivery: str) -> str:
    body, headers = github_signed(payload, delivery)
    r = await client.post(f"/v1/hooks/{integration.id}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_ignored_and_refused_hooks_are_recorded_as_such(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, ticket: hubwire.Noun
) -> None:
    ignored = await post(served, connected, {"action": "ignore"}, "d-ign")
    refused = await post(served, connected, {"action": "refuse"}, "d-ref")
    await Worker(ihub).drain()
    row = await inbound.get_received(ihub, ignored)
    assert (row.status, row.error, row.attempts) == ("ignored", None, 1)
    row = await inbound.get_received(ihub, refused)
    # Not retryable: failed at once, with the provider's reason, and no job left behind.
    assert (row.status, row.attempts) == ("failed", 1) and "without a title" in (row.error or "")
    assert await ticket.find({}) == []
    assert [r.id for r in await inbound.list_received(ihub, status="failed")] == [refused]


async def test_a_retryable_failure_is_retried_then_applied(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, hooky: HookyProvider, ticket: hubwire.Noun
) -> None:
    hooky.outages = 1
    hook_id = await post(served, connected, {"action": "flaky", "title": "after the outage"}, "d-flaky")
    await Worker(ihub).drain()
    row = await inbound.get_received(ihub, hook_id)
    assert (row.status, row.attempts) == ("received", 1) and "down for maintenance" in (row.error or "")
    # The queue's backoff: the retry runs when it is due (here, brought forward).
    async with ihub.transaction() as tx:
        await tx.conn.execute(sa.text("UPDATE jobs SET run_at = 0 WHERE kind = 'inbound.apply'"))
    await Worker(ihub).drain()
    row = await inbound.get_received(ihub, hook_id)
    assert (row.status, row.attempts, row.error) == ("applied", 2, None)
    assert [t.title for t in await ticket.find({})] == ["after the outage"]


async def test_a_failed_hook_is_replayed(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity, hooky: HookyProvider, ticket: hubwire.Noun
) -> None:
    hooky.outages = 100
    hook_id = await post(served, connected, {"action": "flaky", "title": "replayed"}, "d-replay")
    async with ihub.transaction() as tx:  # one attempt only: the job's last
        await tx.conn.execute(sa.text("UPDATE jobs SET max_attempts = 1 WHERE kind = 'inbound.apply'"))
    await Worker(ihub).drain()
    assert (await inbound.get_received(ihub, hook_id)).status == "failed"

    hooky.outages = 0
    replayed = await inbound.replay(ihub, hook_id)
    assert (replayed.status, replayed.error) == ("received", None)
    with pytest.raises(ConflictError) as pending:  # its job is queued: a second replay would apply it twice
        await inbound.replay(ihub, hook_id)
    assert pending.value.code == "apply_pending"
    await Worker(ihub).drain()
    row = await inbound.get_received(ihub, hook_id)
    assert (row.status, row.attempts) == ("applied", 2)
    assert [t.title for t in await ticket.find({})] == ["replayed"]
    with pytest.raises(NotFoundError):
        await inbound.replay(ihub, "hook_nothing")


async def test_a_hook_for_an_integration_disconnected_since_fails_until_replayed(
    ihub: Hub, served: httpx.AsyncClient, connected: Entity
) -> None:
    hook_id = await post(served, connected, {"action": "opened", "title": "late"}, "d-late")
    await Integration.disconnect(connected.id)
    await Worker(ihub).drain()
    row = await inbound.get_received(ihub, hook_id)
    assert row.status == "failed" and "Disconnected" in (row.error or "")


async def test_retention_prunes_handled_hooks_and_keeps_waiting_ones(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, hooky: HookyProvider, ticket: hubwire.Noun
) -> None:
    clock = FakeClock()
    async with make_hub(db_url, tmp_path, providers, clock=clock) as hub:
        assert hub.settings.inbound_retention_days == 30 and inbound.prune in hub.maintenance
        integration = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
        async with rest_client(hub) as client:
            handled = await post(client, integration, {"action": "opened", "title": "old"}, "d-old")
            await Worker(hub).drain()
            waiting = await post(client, integration, {"action": "opened", "title": "waiting"}, "d-wait")
        clock.advance(29 * DAY)
        assert await inbound.prune(hub) == 0
        clock.advance(2 * DAY)
        assert await inbound.prune(hub) == 1
        with pytest.raises(NotFoundError):
            await inbound.get_received(hub, handled)
        assert (await inbound.get_received(hub, waiting)).status == "received"
        assert await inbound.prune(hub, older_than=0) == 0  # 0 keeps everything


async def test_an_integration_shows_its_hook_url(ihub: Hub, providers: ProviderRegistry, hooky: HookyProvider) -> None:
    integration = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
    url = f"{PUBLIC_URL}/v1/hooks/{integration.id}"
    assert integration.hook_url == url and (await Integration.get(integration.id)).hook_url == url
    async with rest_client(ihub) as client:
        assert (await client.get(f"/v1/integrations/{integration.id}")).json()["hook_url"] == url
        # An update cannot make it point elsewhere: it is what the provider was given at connect.
        r = await client.patch(f"/v1/integrations/{integration.id}", json={"hookUrl": "https://evil.example/x"})
        assert r.status_code == 200 and r.json()["hook_url"] == url
    providers.register(ApiKeyProvider())
    assert (await Integration.connect(provider="acme", api_key=GOOD_KEY)).hook_url is None  # no webhooks


async def test_without_a_public_url_there_is_no_hook_url(hub: Hub, hooky: HookyProvider) -> None:
    assert hub.settings.public_url is None
    integration = await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)
    assert integration.hook_url is None and hub.settings.hook_url(integration.id) is None


async def test_rows_are_written_in_batches_under_concurrency(ihub: Hub, connected: Entity) -> None:
    """Many requests at once share transactions (group commit), and each gets its own answer."""
    import asyncio

    from hubwire.inbound.verifiers import WebhookRequest

    requests = []
    for n in range(300):
        body, headers = github_signed({"action": "opened", "title": f"t{n}"}, f"c-{n % 150}")
        requests.append(WebhookRequest(body, headers, url=f"{PUBLIC_URL}/v1/hooks/{connected.id}"))
    stored = await asyncio.gather(*(inbound.receive(ihub, connected.id, r) for r in requests))
    assert sum(not s.duplicate for s in stored) == 150
    by_delivery: dict[str, set[str]] = {}
    for n, s in enumerate(stored):
        by_delivery.setdefault(f"c-{n % 150}", set()).add(s.id)
    assert all(len(ids) == 1 for ids in by_delivery.values())  # a duplicate names the stored row
    async with ihub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(inbound_hooks))).scalar_one() == 150
