"""Webhooks applied in batches: one job and a page per transaction for many webhooks, a bad one
failing alone, a batch killed half way run again without applying anything twice, the order of
one object's changes within a batch, and no webhook left behind by the job giving its key up.

The provider here gives records (``Provider.webhook_records``) as Stripe's and GitHub's do: a
payload ``{"id", "title", "at", "deleted"}`` is the Ticket ``id`` as of time ``at``; ``"poison":
"mapping"`` makes the mapping raise, a missing title is refused by the Ticket's validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import hubwire
from hubwire import Entity, Integration, Worker, inbound
from hubwire.connectors.registry import Provider, ProviderContext, ProviderRegistry
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from hubwire.inbound import batch
from hubwire.inbound.received import ReceivedHook, WebhookRecord
from hubwire.jobs import queue
from hubwire.jobs.kinds import get_kind
from hubwire.store.tables import events as event_log
from hubwire.store.tables import inbound_hooks, jobs
from hubwire.sync.upsert import Incoming
from tests.inbound.conftest import HOOK_SECRET, github_signed


class Batchy(Provider):
    slug = "batchy"
    name = "Batchy"
    webhook_support = True
    webhook_scheme = "github"
    credential_fields = ("webhook_secret",)

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        return "ticket.changed"

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
        p = hook.payload
        if p.get("poison") == "mapping":
            raise ValidationError.single("id", "format", "Batchy sent a ticket id that is not one")
        if p.get("ignore"):
            return []
        fields = {"title": p.get("title"), "ref": p.get("ref", hook.event_id)}
        item = Incoming(str(p["id"]), fields, remote_updated=p.get("at"), deleted=bool(p.get("deleted")))
        return [WebhookRecord("ticket", hubwire.Noun.registry["Ticket"], item)]


@pytest.fixture
async def batchy(ihub: Hub, providers: ProviderRegistry, ticket: hubwire.Noun) -> Entity:
    providers.register(Batchy())
    return await Integration.connect(provider="batchy", webhook_secret=HOOK_SECRET)


async def send(client: httpx.AsyncClient, integration: Entity, payloads: list[dict[str, Any]]) -> list[str]:
    """Post each payload (in order) as its own signed webhook; the inbox ids."""
    ids = []
    for n, payload in enumerate(payloads):
        body, headers = github_signed(payload, f"d-{n}-{payload.get('id')}-{payload.get('at')}")
        r = await client.post(f"/v1/hooks/{integration.id}", content=body, headers=headers)
        assert r.status_code == 200, r.text
        ids.append(str(r.json()["id"]))
    return ids


class Counting:
    """``write_page`` as the batch calls it, counted (each call is one transaction)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, crash_at: int | None = None) -> None:
        self.calls = 0
        self.crash_at = crash_at
        self.real = batch.write_page
        monkeypatch.setattr(batch, "write_page", self)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.crash_at:
            raise Killed  # the process dies before this page's transaction
        return await self.real(*args, **kwargs)


class Killed(BaseException):
    """Stands for kill -9: nothing of the running job's code runs after it (not an Exception)."""


async def apply_jobs(hub: Hub) -> int:
    async with hub.read() as conn:
        q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == inbound.APPLY_JOB)
        return int((await conn.execute(q)).scalar_one())


async def events(hub: Hub) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, entity id, data) of the Tickets' events, in the order appended."""
    e = event_log.c
    q = sa.select(e.type, e.entity_id, e.data).where(e.entity_type == "Ticket").order_by(e.seq)
    async with hub.read() as conn:
        return [(r.type, r.entity_id, dict(r.data)) for r in (await conn.execute(q)).all()]


async def test_many_webhooks_cost_one_job_and_one_transaction(
    ihub: Hub, served: httpx.AsyncClient, batchy: Entity, ticket: hubwire.Noun, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await send(served, batchy, [{"id": f"T{n}", "title": f"ticket {n}", "at": n} for n in range(120)])
    assert await apply_jobs(ihub) == 1  # one live job for the Integration, however many webhooks wait
    pages = Counting(monkeypatch)
    assert await Worker(ihub).drain() == 1
    assert pages.calls == 1  # 120 records of one resource, distinct objects: one page, one transaction
    assert sorted(t.title for t in await ticket.find({}, limit=500)) == sorted(f"ticket {n}" for n in range(120))
    rows = [await inbound.get_received(ihub, i) for i in ids]
    assert {(r.status, r.attempts, r.error) for r in rows} == {("applied", 1, None)}
    made = await events(ihub)
    assert len(made) == 120 and {t for t, _, _ in made} == {"Ticket.Created"}
    async with ihub.read() as conn:
        source = (await conn.execute(sa.text("SELECT DISTINCT source FROM events WHERE entity_type = 'Ticket'"))).all()
    assert [s[0] for s in source] == ["batchy"]  # the provider is the source, as in a sync
    assert await apply_jobs(ihub) == 0  # the job done is forgotten: the rows are the history


async def test_a_bad_webhook_fails_alone_and_its_batch_mates_are_applied(
    ihub: Hub, served: httpx.AsyncClient, batchy: Entity, ticket: hubwire.Noun, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads: list[dict[str, Any]] = [{"id": f"T{n}", "title": f"ticket {n}", "at": n} for n in range(10)]
    payloads[2] = {"id": "T2", "at": 2}  # no title: the Ticket's validation refuses the record
    payloads[4] = {"id": "T4", "poison": "mapping"}  # the provider cannot map it
    payloads[6] = {"id": "T6", "ignore": True}
    payloads[8]["ref"] = payloads[9]["ref"] = "same-ref"  # unique: the page's transaction fails on the second
    ids = await send(served, batchy, payloads)
    pages = Counting(monkeypatch)
    await Worker(ihub).drain()
    rows = {n: await inbound.get_received(ihub, i) for n, i in enumerate(ids)}
    assert {n: r.status for n, r in rows.items()} == {
        0: "applied",
        1: "applied",
        2: "failed",
        3: "applied",
        4: "failed",
        5: "applied",
        6: "ignored",
        7: "applied",
        8: "applied",
        9: "failed",
    }
    assert "title" in (rows[2].error or "") and "not one" in (rows[4].error or "") and rows[9].error
    assert all(r.attempts == 1 for r in rows.values())
    assert pages.calls > 1  # the failed page was written again, webhook by webhook
    titles = sorted(t.title for t in await ticket.find({}))
    assert titles == sorted(f"ticket {n}" for n in (0, 1, 3, 5, 7, 8))
    assert len(await events(ihub)) == 6  # one event per entity made, none for what failed


async def test_a_batch_killed_half_way_is_run_again_and_applies_each_webhook_once(
    ihub: Hub, served: httpx.AsyncClient, batchy: Entity, ticket: hubwire.Noun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "PAGE", 3)  # 10 webhooks: pages of 3, 3, 3, 1
    ids = await send(served, batchy, [{"id": f"T{n}", "title": f"ticket {n}", "at": n} for n in range(10)])
    crash = Counting(monkeypatch, crash_at=3)
    [job] = await queue.claim(ihub, "doomed-worker", 1, lease=0.0)  # its lease is over at once: as if it died
    with pytest.raises(Killed):
        await get_kind(job.kind).handler(job, ihub)
    statuses = [(await inbound.get_received(ihub, i)).status for i in ids]
    assert statuses == ["applied"] * 6 + ["received"] * 4  # two pages committed, with their rows' statuses
    assert len(await ticket.find({})) == 6

    monkeypatch.setattr(batch, "write_page", crash.real)
    assert await Worker(ihub).drain() == 1  # the job, taken back from the dead worker, runs again
    rows = [await inbound.get_received(ihub, i) for i in ids]
    assert {(r.status, r.attempts) for r in rows} == {("applied", 1)}  # each applied once, by one attempt
    assert sorted(t.title for t in await ticket.find({})) == sorted(f"ticket {n}" for n in range(10))
    made = await events(ihub)
    assert len(made) == 10 and len({e for _, e, _ in made}) == 10  # one Created per ticket, none twice


async def test_changes_of_one_object_within_a_batch_apply_in_order_and_never_move_back(
    ihub: Hub, served: httpx.AsyncClient, batchy: Entity, ticket: hubwire.Noun, monkeypatch: pytest.MonkeyPatch
) -> None:
    await send(
        served,
        batchy,
        [
            {"id": "A", "title": "a1", "at": 1},
            {"id": "B", "title": "b1", "at": 1},
            {"id": "A", "title": "a3", "at": 3},
            {"id": "A", "title": "a2", "at": 2},  # late: older than what is stored by then
            {"id": "B", "deleted": True, "at": 5},
            {"id": "A", "title": "a4", "at": 4},
            {"id": "B", "title": "b4", "at": 4},  # older than the deletion: does not bring it back
        ],
    )
    pages = Counting(monkeypatch)
    await Worker(ihub).drain()
    # The n-th change of each object in the n-th page: (a1, b1), (a3, B deleted), (a2, b4), (a4).
    assert pages.calls == 4
    [a] = await ticket.find({})
    assert a.title == "a4"
    made = await events(ihub)
    a_events = [(t, d["title"]) for t, e, d in made if e == a.id]
    assert a_events == [("Ticket.Created", "a1"), ("Ticket.Updated", "a3"), ("Ticket.Updated", "a4")]
    b_events = [t for t, e, _ in made if e != a.id]
    assert b_events == ["Ticket.Created", "Ticket.Deleted"]
    async with ihub.read() as conn:
        statuses = (await conn.execute(sa.select(inbound_hooks.c.status))).scalars().all()
    assert set(statuses) == {"applied"}


async def test_a_webhook_stored_while_the_job_runs_is_not_left_behind(
    ihub: Hub, served: httpx.AsyncClient, batchy: Entity, ticket: hubwire.Noun
) -> None:
    await send(served, batchy, [{"id": "T1", "title": "first", "at": 1}])
    [job] = await queue.claim(ihub, "w", 1, lease=60.0)
    # Stored while the job runs (before it looked): it holds the key, so no second job is made...
    await send(served, batchy, [{"id": "T2", "title": "second", "at": 1}])
    assert await apply_jobs(ihub) == 1
    await get_kind(job.kind).handler(job, ihub)  # ...and it applies both before giving its key up
    assert sorted(t.title for t in await ticket.find({})) == ["first", "second"]
    # Once it gave its key up (though not yet marked done), the next webhook makes a new job.
    await send(served, batchy, [{"id": "T3", "title": "third", "at": 1}])
    assert await apply_jobs(ihub) == 2
    await queue.complete(ihub, "w", [(job.id, job.attempts)])
    await Worker(ihub).drain()
    assert sorted(t.title for t in await ticket.find({})) == ["first", "second", "third"]
