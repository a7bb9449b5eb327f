"""The Integration Noun: connect, credentials, Errored, state machine, sync, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import hubwire
from hubwire import Integration, ProviderAuthError, SyncProgress
from hubwire.connectors.registry import ProviderRegistry
from hubwire.jobs import Worker, list_jobs
from hubwire.store.tables import credentials, events
from tests.fakes import GOOD_KEY, ApiKeyProvider


@pytest.fixture
def acme(providers: ProviderRegistry) -> ApiKeyProvider:
    p = ApiKeyProvider()
    providers.register(p)
    return p


async def types(hub: hubwire.Hub) -> list[str]:
    async with hub.read() as conn:
        return list((await conn.execute(sa.select(events.c.type).order_by(events.c.seq))).scalars())


async def test_connect_creates_checks_stores_and_enqueues_sync(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
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


async def test_a_refused_connect_of_a_new_integration_leaves_nothing_behind(
    hub: hubwire.Hub, acme: ApiKeyProvider
) -> None:
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


async def test_a_refused_reconnect_records_the_error_and_keeps_the_status(
    hub: hubwire.Hub, acme: ApiKeyProvider
) -> None:
    errored: list[str] = []
    Integration.errored(lambda i: errored.append(i.error))
    ok = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    with pytest.raises(ProviderAuthError):
        await Integration.connect(ok.id, api_key="sk_test_WrongKey0000000")
    after = await Integration.get(ok.id)
    assert after.status == "Connected" and "refused" in after.error and after.version == ok.version + 1
    assert errored and "sk_test_WrongKey0000000" not in errored[0]
    assert await types(hub) == ["Integration.Created", "Integration.Connected", "Integration.Errored"]


async def test_connect_validates_parameters(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    with pytest.raises(hubwire.ValidationError) as err:
        await Integration.connect(provider="acme", token="x", colour="red")
    fields = {(e.field, e.code) for e in err.value.errors}
    assert ("colour", "unknown_parameter") in fields and ("api_key", "required") in fields
    with pytest.raises(hubwire.ValidationError) as err2:
        await Integration.connect(provider="nope", api_key="x")
    assert err2.value.errors[0].code == "unknown_provider"
    assert await Integration.count() == 0


async def test_sync_inline_and_through_the_worker(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
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


async def test_a_queued_sync_done_by_a_manual_one_does_not_run_again(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
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


async def test_the_seeds_object_form_for_disconnect_and_sync(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    synced = await Integration.sync({"id": integ.id}, wait=True)
    assert synced.status == "Synced"
    queued = await Integration.sync({"id": integ.id})
    assert queued.id == integ.id
    gone = await Integration.disconnect({"id": integ.id})
    assert gone.status == "Disconnected"
    back = await Integration.connect({"id": integ.id, "api_key": GOOD_KEY})
    assert back.status == "Connected" and back.id == integ.id


async def test_failed_sync_records_error_and_keeps_status(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    acme.fail_sync = hubwire.ProviderUnavailable("Acme is down (503)", provider="acme")
    with pytest.raises(hubwire.ProviderUnavailable):
        await Integration.sync(integ.id, wait=True)
    after = await Integration.get(integ.id)
    assert after.status == "Connected" and "Acme is down" in after.error
    assert (await types(hub))[-1] == "Integration.Errored"


async def test_state_machine(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
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


async def test_active_means_connected_or_synced(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    a = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    await Integration.sync(a.id, wait=True)
    b = await Integration.connect(provider="acme", slug="acme-b", api_key=GOOD_KEY)
    await Integration.create(name="Idle", provider="acme", slug="idle")
    active = await Integration.find({"status": "Active"}, sort="slug")
    assert [i.slug for i in active] == ["acme", "acme-b"] and {i.id for i in active} == {a.id, b.id}


async def test_credentials_are_encrypted_at_rest(hub: hubwire.Hub, acme: ApiKeyProvider, tmp_path: Path) -> None:
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


async def test_credentials_bound_to_their_integration(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
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


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        ("disconnected", "dead"),  # IllegalTransitionError: retrying cannot connect it
        ("another run", "retry in 60 s"),  # sync_running: try again once that run is over
        (hubwire.ConflictError("Contact c1 changed while the sync ran", code="version_conflict"), "dead"),
        (hubwire.ProviderAuthError("Acme refused the key", provider="acme"), "dead"),
        (hubwire.ProviderInvalidRequest("Acme: no such field", provider="acme"), "dead"),
        (hubwire.ProviderNotFound("Acme: no such account", provider="acme"), "dead"),
        (hubwire.ProviderUnavailable("Acme is down (503)", provider="acme"), "backoff"),
        (hubwire.ProviderRateLimited("Acme says slow down", provider="acme"), "backoff"),
        (hubwire.ProviderError("Acme answered 502", provider="acme"), "backoff"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
async def test_the_sync_job_dead_letters_what_retrying_cannot_fix_and_retries_the_rest(
    hub: hubwire.Hub, acme: ApiKeyProvider, failure: str | hubwire.HubwireError, outcome: str
) -> None:
    from hubwire.sync.runs import start_run

    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY)  # enqueues the initial sync
    if failure == "disconnected":
        await Integration.disconnect(integ.id)
    elif failure == "another run":
        await start_run(hub, integ.id)
    else:
        assert isinstance(failure, hubwire.HubwireError)
        acme.fail_sync = failure
    assert await Worker(hub).drain() == 1
    [job] = await list_jobs(hub, kind="integration.sync")
    assert job.attempts == 1 and job.last_error
    if outcome == "dead":
        assert job.status == "dead"
    else:
        assert job.status == "queued"
        wait = job.run_at - job.updated_at
        if outcome == "retry in 60 s":
            assert wait == pytest.approx(60.0) and "already running" in job.last_error
        else:  # the kind's backoff: 30 s within its jitter
            assert 30.0 * 0.8 <= wait <= 30.0 * 1.2


async def test_a_refused_key_the_provider_quotes_is_never_stored(hub: hubwire.Hub, acme: ApiKeyProvider) -> None:
    wrong = "acme-key-with-a-typo-Qx71"  # no well-known secret shape: only knowing it was submitted masks it
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(provider="acme", api_key=wrong)
    assert wrong not in err.value.message and wrong not in str(err.value)  # what the REST problem and CLI show
    ok = await Integration.connect(provider="acme", api_key=GOOD_KEY)
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(ok.id, api_key=wrong)  # a refused reconnect records the error
    assert wrong not in err.value.message
    integ = await Integration.get(ok.id)
    assert "refused" in integ.error and wrong not in integ.error
    async with hub.read() as conn:
        stored = [json.dumps(d) for d in (await conn.execute(sa.select(events.c.data))).scalars()]
    assert stored and not any(wrong in d for d in stored)
