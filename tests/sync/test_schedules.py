"""Per-integration schedules: set at connect and by update, validated, claimed once per tick by the
workers (a scheduler clock the test moves), never overlapping a sync, missed ticks run once."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from hubwire.connectors.registry import ProviderRegistry
from hubwire.domains.platform import SYNC_JOB, Integration, sync_key
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker, queue
from hubwire.store.events import iso
from hubwire.store.tables import jobs, sync_schedules
from hubwire.sync.frequency import parse_frequency
from hubwire.sync.runs import list_runs
from hubwire.sync.schedules import SchedulerClock, get_schedule
from tests.api.conftest import rest_client
from tests.fakes import GOOD_KEY, ApiKeyProvider
from tests.jobs.test_processes import wait_for

T0 = 1_800_000_000.0  # the scheduler's "now" at the start of each test (2027-01-15)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(hub: Hub) -> Clock:
    c = Clock()
    hub.provide(SchedulerClock, SchedulerClock(c))
    return c


@pytest.fixture
def acme(providers: ProviderRegistry) -> ApiKeyProvider:
    p = ApiKeyProvider()
    providers.register(p)
    return p


def stored(t: float | None) -> str:
    assert t is not None
    return iso(t).replace(".000Z", "Z")


async def sync_jobs(hub: Hub) -> list[queue.JobRow]:
    return [j for j in await queue.list_jobs(hub, kind=SYNC_JOB, limit=100)]


async def tick(hub: Hub) -> int:
    return sum([await work(hub) for work in hub.periodic])


YEARLY = "0 0 1 1 *"  # a reconciliation that does not fall due during a test (T0 is mid-January)


async def connected(hub: Hub, **kw: object) -> str:
    if "sync_frequency" in kw:
        kw.setdefault("reconcile_frequency", YEARLY)
    integ = await Integration.connect(provider="acme", api_key=GOOD_KEY, **kw)
    await Worker(hub).drain()  # the initial sync
    return integ.id


async def test_connect_sets_a_schedule_and_shows_the_next_run(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub, sync_frequency="Every 15 minutes")
    integ = await Integration.get(iid)
    assert integ["sync_frequency"] == "every 15m"
    f = parse_frequency("every 15m")
    assert integ["next_sync_at"] == stored(f.next_after(T0, iid))
    assert integ["next_reconcile_at"] == stored(parse_frequency(YEARLY).next_after(T0, iid))
    s = await get_schedule(hub, iid)
    assert s is not None and (s.frequency, s.reconcile) == ("every 15m", YEARLY)
    assert s.next_run_at == f.next_after(T0, iid)
    assert await Integration.schedule(iid) == s


async def test_a_bad_frequency_is_refused_before_the_provider_is_asked(
    hub: Hub, acme: ApiKeyProvider, clock: Clock
) -> None:
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="acme", api_key=GOOD_KEY, sync_frequency="every 10s")
    assert err.value.errors[0].field == "sync_frequency" and "unknown unit" in err.value.message
    assert await Integration.find({"provider": "acme"}) == []
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="acme", api_key=GOOD_KEY, reconcile_frequency="60 * * * *")
    assert err.value.errors[0].field == "reconcile_frequency"


async def test_update_changes_or_removes_the_schedule(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub)
    assert await get_schedule(hub, iid) is None  # no frequency: synced by hand (and webhooks) only
    assert (await Integration.get(iid))["next_sync_at"] is None
    await Integration.update(iid, sync_frequency="0 */6 * * *", reconcile_frequency="every 7d")
    s = await get_schedule(hub, iid)
    assert s is not None and (s.frequency, s.reconcile) == ("0 */6 * * *", "every 7d")
    assert s.next_run_at == T0 - (T0 % 21600) + 21600  # the next multiple of 6 h in UTC
    with pytest.raises(ValidationError):
        await Integration.update(iid, sync_frequency="sometimes")
    assert (await get_schedule(hub, iid)) == s  # nothing written
    await Integration.update(iid, sync_frequency="manual")
    assert await get_schedule(hub, iid) is None
    integ = await Integration.get(iid)
    assert integ["sync_frequency"] == "manual" and integ["next_sync_at"] is None


async def test_disconnected_integrations_are_not_due_and_deleted_ones_lose_their_row(
    hub: Hub, acme: ApiKeyProvider, clock: Clock
) -> None:
    iid = await connected(hub, sync_frequency="hourly")
    await Integration.disconnect(iid)
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is None and s.next_reconcile_at is None
    assert (await Integration.get(iid))["next_sync_at"] is None
    clock.now += 7 * 86400
    assert await tick(hub) == 0
    await Integration.connect(iid, api_key=GOOD_KEY)
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None and s.next_run_at > clock.now
    await Worker(hub).drain()
    await Integration.disconnect(iid)
    await Integration.delete(iid)
    assert await get_schedule(hub, iid) is None


async def test_a_due_tick_is_claimed_once_and_runs_one_sync(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub, sync_frequency="every 15m")
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None
    assert await tick(hub) == 0  # not due yet
    clock.now = s.next_run_at
    assert await tick(hub) == 1
    assert await tick(hub) == 0  # claimed: the next one is 15 minutes on
    [job] = [j for j in await sync_jobs(hub) if j.status == "queued"]
    assert job.payload == {"integration_id": iid, "full": False, "tick": s.next_run_at} and job.key == sync_key(iid)
    await Worker(hub).drain()
    run = (await list_runs(hub, iid))[0]
    assert run.tick == s.next_run_at and run.status == "succeeded" and not run.full
    after = await get_schedule(hub, iid)
    assert after is not None and after.next_run_at == s.next_run_at + 900 and after.last_tick_at == s.next_run_at
    assert (await Integration.get(iid))["next_sync_at"] == stored(s.next_run_at + 900)


async def test_ticks_missed_while_no_worker_ran_run_once(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub, sync_frequency="every 15m")
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None
    clock.now = s.next_run_at + 5 * 900 + 30  # six ticks came and went
    assert await tick(hub) == 1
    assert await tick(hub) == 0
    [job] = [j for j in await sync_jobs(hub) if j.status == "queued"]
    assert job.payload["tick"] == s.next_run_at + 5 * 900  # the latest one
    after = await get_schedule(hub, iid)
    assert after is not None and after.next_run_at == s.next_run_at + 6 * 900


async def test_a_tick_waits_for_a_sync_in_the_way_then_runs_once(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub, sync_frequency="every 15m")
    await Integration.sync(iid)  # queued by hand, not run yet
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None
    clock.now = s.next_run_at + 2 * 900  # and two more ticks pass meanwhile
    assert await tick(hub) == 0  # never beside it: the tick stays due
    assert len([j for j in await sync_jobs(hub) if j.status == "queued"]) == 1
    assert await get_schedule(hub, iid) == s
    await Worker(hub).drain()
    assert await tick(hub) == 1  # once, for the latest tick
    assert await tick(hub) == 0
    [job] = [j for j in await sync_jobs(hub) if j.status == "queued"]
    assert job.payload["tick"] == s.next_run_at + 2 * 900
    after = await get_schedule(hub, iid)
    assert after is not None and after.next_run_at == s.next_run_at + 3 * 900


async def test_a_reconciliation_tick_runs_a_full_sync_and_waits_for_a_running_one(
    hub: Hub, acme: ApiKeyProvider, clock: Clock
) -> None:
    iid = await connected(hub, sync_frequency="every 15m", reconcile_frequency="daily")
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_reconcile_at is not None
    await Integration.sync(iid)  # in the way
    clock.now = s.next_reconcile_at
    assert await tick(hub) == 0
    held = await get_schedule(hub, iid)
    assert held is not None and held.next_reconcile_at == s.next_reconcile_at  # still due
    await Worker(hub).drain()  # the sync in the way
    assert await tick(hub) == 1
    [job] = [j for j in await sync_jobs(hub) if j.status == "queued"]
    assert job.payload["full"] is True
    await Worker(hub).drain()
    assert (await list_runs(hub, iid))[0].full
    done = await get_schedule(hub, iid)
    assert done is not None and done.next_reconcile_at == s.next_reconcile_at + 86400


async def test_a_schedule_changed_meanwhile_wins_over_a_stale_claim(
    hub: Hub, acme: ApiKeyProvider, clock: Clock
) -> None:
    """The claim is conditional on the revision read: a change in between makes it claim nothing."""
    from hubwire.sync import schedules

    iid = await connected(hub, sync_frequency="every 15m")
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None
    clock.now = s.next_run_at
    await Integration.update(iid, sync_frequency="every 30m")
    started: list[str] = []

    async def start(tx: object, integration_id: str, full: bool, at: float) -> bool:
        started.append(integration_id)
        return True

    with pytest.raises(schedules._Lost):
        await schedules._claim(hub, s, clock.now, start)  # the row as read before the update
    assert started == []


@pytest.mark.parametrize("frequency", ["every 2h", "*/5 * * * *"])
async def test_rest_sets_shows_and_refuses(
    hub: Hub, acme: ApiKeyProvider, clock: Clock, frequency: str, providers: ProviderRegistry
) -> None:
    iid = await connected(hub)
    async with rest_client(hub) as client:
        r = await client.patch(f"/v1/integrations/{iid}", json={"syncFrequency": frequency})
        assert r.status_code == 200, r.text
        assert r.json()["sync_frequency"] == frequency and r.json()["next_sync_at"] is not None
        r = await client.get(f"/v1/integrations/{iid}/schedule")
        assert r.status_code == 200 and r.json()["frequency"] == frequency and r.json()["reconcile"] == "daily"
        r = await client.patch(f"/v1/integrations/{iid}", json={"sync_frequency": "every 5s"})
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
        assert r.json()["errors"][0]["field"] == "sync_frequency"
        r = await client.patch(f"/v1/integrations/{iid}", json={"next_sync_at": "2030-01-01T00:00:00Z"})
        assert r.status_code == 422
        r = await client.post(f"/v1/integrations/{iid}/sync", json={"confirm_deletions": True})
        assert r.status_code == 202
        [job] = [j for j in await sync_jobs(hub) if j.status == "queued"]
        assert job.payload["full"] is True and job.payload["confirm_deletions"] is True
        r = await client.post(f"/v1/integrations/{iid}/sync", json={"confirm_deletions": "yes"})
        assert r.status_code == 422
        r = await client.get("/v1/integrations/integration_nope/schedule")
        assert r.status_code == 404


async def test_a_worker_runs_the_schedules(hub: Hub, acme: ApiKeyProvider, clock: Clock) -> None:
    iid = await connected(hub, sync_frequency="every 15m")
    s = await get_schedule(hub, iid)
    assert s is not None and s.next_run_at is not None
    clock.now = s.next_run_at
    worker = Worker(hub, tick_interval=0.05, poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    async def ran() -> bool:
        runs = await list_runs(hub, iid)
        return any(r.tick == s.next_run_at and r.status == "succeeded" for r in runs)

    try:
        await wait_for(ran, 30.0, "the scheduled sync")
    finally:
        stop.set()
        await task
    async with hub.read() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(sync_schedules))).scalar_one()
        queued = (
            await conn.execute(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == "queued"))
        ).scalar_one()
    assert n == 1 and queued == 0


async def test_a_provider_that_does_not_sync_takes_no_frequency(hub: Hub, clock: Clock) -> None:
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="webhook", url="https://example.com/h", sync_frequency="hourly")
    assert err.value.errors[0].field == "sync_frequency" and "does not sync" in err.value.message
    assert await Integration.find({"provider": "webhook"}) == []
