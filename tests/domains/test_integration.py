"""The Integration Noun: connect, credentials, Errored, state machine, sync, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hubwire
from hubwire import Integration, ProviderAuthError, ProviderContext, SyncProgress
from hubwire.connectors.registry import Provider, ProviderRegistry
from hubwire.jobs import Worker, list_jobs
from hubwire.store.tables import credentials, events

GOOD_KEY = "sk_test_GoodKey1234567890"


class Acme(Provider):
    slug = "acme"
    name = "Acme"
    category = "CRM"
    auth_type = "ApiKey"
    credential_fields = ("api_key",)
    required_credentials = ("api_key",)
    config_fields = ("region",)
    syncs = True

    def __init__(self) -> None:
        self.synced: list[str] = []
        self.fail_sync: Exception | None = None

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        if ctx.credentials.get("api_key") != GOOD_KEY:
            raise ProviderAuthError(f"Acme refused the key {ctx.credentials.get('api_key')}", provider="acme")
        return {"account": "acct_1"}

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        if self.fail_sync:
            raise self.fail_sync
        assert ctx.credentials["api_key"] == GOOD_KEY
        self.synced.append(ctx.integration.id)
        progress.advance("Contact", 3, 3)
        return 3


@pytest.fixture
def acme(providers: ProviderRegistry) -> Acme:
    p = Acme()
    providers.register(p)
    return p


async def types(hub: hubwire.Hub) -> list[str]:
    async with hub.read() as conn:
        return list((await conn.execute(sa.select(events.c.type).order_by(events.c.seq))).scalars())


async def test_connect_creates_checks_stores_and_enqueues_sync(hub: hubwire.Hub, acme: Acme) -> None:
    seen: list[str] = []
    Integration.connecting(lambda i: seen.append(f"connecting:{i.status}"))
    Integration.connected(lambda i: seen.append(f"connected:{i.status}"))
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY, region="eu")
    assert integ.status == "Connected" and integ.provider == "acme" and integ.slug == "acme"
    assert integ.category == "CRM" and integ.auth_type == "ApiKey"
    assert integ.config["region"] == "eu" and integ.config["account"] == {"account": "acct_1"}
    assert seen == ["connecting:Connected", "connected:Connected"]
    assert await types(hub) == ["Integration.Created", "Integration.Connected"]
    jobs = await list_jobs(hub, kind="integration.sync")
    assert [j.payload["integration_id"] for j in jobs] == [integ.id]
    assert GOOD_KEY not in repr(integ)

    # connecting again by provider reuses the same integration (credential rotation)
    again = await Integration.connect(provider="acme", apiKey=GOOD_KEY)
    assert again.id == integ.id and again.version == integ.version + 1


async def test_a_refused_connect_of_a_new_integration_leaves_nothing_behind(hub: hubwire.Hub, acme: Acme) -> None:
    errored: list[str] = []
    Integration.errored(lambda i: errored.append(i.error))
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(provider="acme", api_key="sk_test_WrongKey0000000")
    assert err.value.code == "provider_auth_failed"
    assert await Integration.find({"provider": "acme"}) == []
    assert await types(hub) == [] and errored == [] and await list_jobs(hub) == []
    async with hub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(credentials))).scalar_one() == 0

    ok = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    assert ok.status == "Connected" and ok.error is None


async def test_a_refused_reconnect_records_the_error_and_keeps_the_status(hub: hubwire.Hub, acme: Acme) -> None:
    errored: list[str] = []
    Integration.errored(lambda i: errored.append(i.error))
    ok = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    with pytest.raises(ProviderAuthError):
        await Integration.connect(ok.id, api_key="sk_test_WrongKey0000000")
    after = await Integration.get(ok.id)
    assert after.status == "Connected" and "refused" in after.error and after.version == ok.version + 1
    assert errored and "sk_test_WrongKey0000000" not in errored[0]
    assert await types(hub) == ["Integration.Created", "Integration.Connected", "Integration.Errored"]


async def test_connect_validates_parameters(hub: hubwire.Hub, acme: Acme) -> None:
    with pytest.raises(hubwire.ValidationError) as err:
        await Integration.connect(provider="acme", token="x", colour="red")
    fields = {(e.field, e.code) for e in err.value.errors}
    assert ("colour", "unknown_parameter") in fields and ("api_key", "required") in fields
    with pytest.raises(hubwire.ValidationError) as err2:
        await Integration.connect(provider="nope", api_key="x")
    assert err2.value.errors[0].code == "unknown_provider"
    assert await Integration.count() == 0


async def test_sync_inline_and_through_the_worker(hub: hubwire.Hub, acme: Acme) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    order: list[str] = []
    Integration.syncing(lambda i: order.append("syncing"))
    Integration.synced(lambda i: order.append(f"synced:{i.last_sync_count}"))
    assert await Worker(hub).drain() == 1
    after = await Integration.get(integ.id)
    assert after.status == "Synced" and after.last_sync_count == 3 and after.last_sync_at
    assert order == ["syncing", "synced:3"]

    ticks: list[tuple[str, int, int | None]] = []
    again = await Integration.sync(integ.id, wait=True, progress=SyncProgress(lambda n, d, t: ticks.append((n, d, t))))
    assert again.status == "Synced" and ticks == [("Contact", 3, 3)]
    assert acme.synced == [integ.id, integ.id]
    assert (await types(hub)).count("Integration.Synced") == 2


async def test_a_queued_sync_done_by_a_manual_one_does_not_run_again(hub: hubwire.Hub, acme: Acme) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)  # queues the initial sync
    assert len(await list_jobs(hub, kind="integration.sync", status="queued")) == 1
    await Integration.sync({"id": integ.id}, wait=True)  # no worker ran: the manual sync does its work
    assert acme.synced == [integ.id]
    assert await list_jobs(hub, kind="integration.sync", status="queued") == []
    assert await Worker(hub).drain() == 0  # a worker starting now finds no stale duplicate
    assert acme.synced == [integ.id]

    # A full sync queued is not done by an incremental one: it stays and runs.
    await Integration.sync(integ.id, full=True)
    await Integration.sync(integ.id, wait=True)
    assert await Worker(hub).drain() == 1 and acme.synced == [integ.id] * 3


async def test_the_seeds_object_form_for_disconnect_and_sync(hub: hubwire.Hub, acme: Acme) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    synced = await Integration.sync({"id": integ.id}, wait=True)
    assert synced.status == "Synced"
    queued = await Integration.sync({"id": integ.id})
    assert queued.id == integ.id
    gone = await Integration.disconnect({"id": integ.id})
    assert gone.status == "Disconnected"
    back = await Integration.connect({"id": integ.id, "api_key": GOOD_KEY})
    assert back.status == "Connected" and back.id == integ.id


async def test_failed_sync_records_error_and_keeps_status(hub: hubwire.Hub, acme: Acme) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    acme.fail_sync = hubwire.ProviderUnavailable("Acme is down (503)", provider="acme")
    with pytest.raises(hubwire.ProviderUnavailable):
        await Integration.sync(integ.id, wait=True)
    after = await Integration.get(integ.id)
    assert after.status == "Connected" and "Acme is down" in after.error
    assert (await types(hub))[-1] == "Integration.Errored"


async def test_state_machine(hub: hubwire.Hub, acme: Acme) -> None:
    integ = await Integration.create(name="Acme", provider="acme", slug="acme-2")
    assert integ.status == "Available"
    with pytest.raises(hubwire.IllegalTransitionError):
        await Integration.sync(integ.id)
    with pytest.raises(hubwire.IllegalTransitionError):
        await Integration.disconnect(integ.id)
    connected = await Integration.connect(integ.id, api_key=GOOD_KEY)
    assert connected.status == "Connected"
    gone = await Integration.disconnect(integ.id)
    assert gone.status == "Disconnected"
    async with hub.read() as conn:
        left = (await conn.execute(sa.select(credentials).where(credentials.c.integration_id == integ.id))).all()
    assert left == []  # disconnecting forgets the credentials
    back = await Integration.publish(integ.id)
    assert back.status == "Available"
    deprecated = await Integration.deprecate(integ.id)
    assert deprecated.status == "Deprecated"
    with pytest.raises(hubwire.IllegalTransitionError):
        await Integration.publish(deprecated.id)
    with pytest.raises(hubwire.IllegalTransitionError):
        await Integration.update(deprecated.id, status="Available")


async def test_active_means_connected_or_synced(hub: hubwire.Hub, acme: Acme) -> None:
    a = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    await Integration.sync(a.id, wait=True)
    b = await Integration.connect(provider="acme", slug="acme-b", api_key=GOOD_KEY)
    await Integration.create(name="Idle", provider="acme", slug="idle")
    active = await Integration.find({"status": "Active"}, sort="slug")
    assert [i.slug for i in active] == ["acme", "acme-b"] and {i.id for i in active} == {a.id, b.id}


async def test_credentials_are_encrypted_at_rest(hub: hubwire.Hub, acme: Acme, tmp_path: Path) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    if hub.dialect == "sqlite":
        await hub.close()  # flush the WAL into the file
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("hubwire.db*"))
        assert GOOD_KEY.encode() not in raw
        assert integ.id.encode() in raw  # the file is the one we wrote to
    else:
        async with hub.read() as conn:
            dump = (
                await conn.execute(sa.text("SELECT string_agg(t::text, '|') FROM (SELECT * FROM credentials) t"))
            ).scalar_one()
            entities_dump = (
                await conn.execute(sa.text("SELECT string_agg(data::text, '|') FROM entities"))
            ).scalar_one()
        assert dump and GOOD_KEY not in dump and GOOD_KEY.encode().hex() not in dump
        assert GOOD_KEY not in entities_dump


async def test_credentials_bound_to_their_integration(hub: hubwire.Hub, acme: Acme) -> None:
    from hubwire.vault.credentials import load_credentials

    a = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    b = await Integration.connect(provider="acme", slug="acme-b", api_key=GOOD_KEY)
    assert (await load_credentials(hub, a.id)) == {"api_key": GOOD_KEY}
    async with hub.transaction() as tx:  # move a's ciphertext onto b's row
        blob = (
            await tx.conn.execute(sa.select(credentials.c.ciphertext).where(credentials.c.integration_id == a.id))
        ).scalar_one()
        await tx.conn.execute(credentials.update().where(credentials.c.integration_id == b.id).values(ciphertext=blob))
    with pytest.raises(hubwire.ConfigurationError):
        await load_credentials(hub, b.id)
