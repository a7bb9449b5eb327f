"""Verbs, hooks, events and versions of Nouns, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import hubwire
from hubwire import ConflictError, IllegalTransitionError, Noun, ValidationError, VetoError
from hubwire.store.tables import events, jobs
from tests.fakes import deal_noun


async def event_types(hub: hubwire.Hub) -> list[str]:
    async with hub.read() as conn:
        return list((await conn.execute(sa.select(events.c.type).order_by(events.c.seq))).scalars())


async def test_create_get_update_delete_emit_events_in_order(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    deal = await Deal.create(name="Enterprise", value=50000, stage="Open", contact="contact_fX9bL5nR")
    assert deal.id.startswith("deal_") and len(deal.id) == len("deal_") + 8
    assert deal["$type"] == "Deal" and deal.version == 1 and deal.created_at.endswith("Z")
    got = await Deal.get(deal.id)
    assert got == deal
    updated = await Deal.update(deal.id, value=60000)
    assert updated.value == 60000 and updated.version == 2 and updated.name == "Enterprise"
    removed = await Deal.delete(deal.id)
    assert removed.id == deal.id
    with pytest.raises(hubwire.NotFoundError) as err:
        await Deal.get(deal.id)
    assert err.value.code == "not_found"
    assert await event_types(hub) == ["Deal.Created", "Deal.Updated", "Deal.Deleted"]


async def test_custom_verb_moves_status_and_conjugates_hooks(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    seen: list[tuple[str, object]] = []

    @Deal.closing
    def before(deal: hubwire.Entity) -> None:
        seen.append(("closing", deal.stage))

    @Deal.closed
    async def after(deal: hubwire.Entity, ctx: hubwire.Context) -> None:
        seen.append(("closed", deal.stage))
        assert ctx.event is not None and ctx.event.type == "Deal.Closed"
        await ctx.Event.create(type="deal.closed", data={"deal": deal.id})

    @hubwire.on("Deal.*")
    def any_deal(deal: hubwire.Entity, ctx: hubwire.Context) -> None:
        seen.append(("on", ctx.event.type if ctx.event else None))

    deal = await Deal.create(name="A", stage="Open")
    closed = await Deal.close(deal.id)
    assert closed.stage == "Closed"
    assert ("closing", "Closed") in seen and ("closed", "Closed") in seen
    assert ("on", "Deal.Created") in seen and ("on", "Deal.Closed") in seen
    recorded = await hubwire.Event.find({"type": "deal.closed"})
    assert [e.data for e in recorded] == [{"deal": deal.id}]
    assert await event_types(hub) == ["Deal.Created", "Deal.Closed", "Event.Created"]


async def test_illegal_transition_writes_nothing(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    deal = await Deal.create(name="A", stage="Open")
    await Deal.close(deal.id)
    with pytest.raises(IllegalTransitionError) as err:
        await Deal.lose(deal.id)
    assert err.value.code == "illegal_transition" and err.value.status == 409
    assert "Closed" in err.value.message and "Lost" in err.value.message
    with pytest.raises(IllegalTransitionError):
        await Deal.update(deal.id, stage="Open")
    assert (await Deal.get(deal.id)).stage == "Closed"
    assert await event_types(hub) == ["Deal.Created", "Deal.Closed"]


async def test_a_before_hook_moving_a_closed_deal_back_to_open_is_refused_and_writes_nothing(
    hub: hubwire.Hub,
) -> None:
    """The state machine is checked again after the before-hooks: a hook cannot smuggle in a move."""
    from hubwire.jobs import queue
    from hubwire.jobs.kinds import job_kind

    @job_kind("test.per_event")
    async def noop(job: hubwire.Job, hub: hubwire.Hub) -> None:
        return None

    async def one_job_per_event(tx: hubwire.hub.Tx, event: object) -> None:
        await queue.enqueue(tx, "test.per_event", {})

    Deal = deal_noun()
    deal = await Deal.create(name="A", stage="Open", value=1)
    closed = await Deal.close(deal.id)

    @Deal.updating
    def reopen(d: hubwire.Entity) -> None:
        d["stage"] = "Open"

    hub.event_sinks.append(one_job_per_event)  # a write would leave a job behind, too
    try:
        with pytest.raises(IllegalTransitionError) as err:
            await Deal.update(deal.id, value=2)
    finally:
        hub.event_sinks.remove(one_job_per_event)
    assert "Closed" in err.value.message and "Open" in err.value.message
    assert await Deal.get(deal.id) == closed
    assert await event_types(hub) == ["Deal.Created", "Deal.Closed"]
    async with hub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one() == 0


async def test_before_hook_veto_writes_nothing(hub: hubwire.Hub) -> None:
    Deal = deal_noun()

    @Deal.creating
    def refuse(deal: hubwire.Entity) -> None:
        if deal.value and deal.value > 100:
            raise ValueError("deals over 100 need approval")

    with pytest.raises(VetoError) as err:
        await Deal.create(name="Big", value=1000)
    assert err.value.code == "vetoed" and "approval" in err.value.message
    assert await Deal.count() == 0
    assert await event_types(hub) == []


async def test_before_hook_may_change_the_entity(hub: hubwire.Hub) -> None:
    Deal = deal_noun()

    @Deal.creating
    def default_stage(deal: hubwire.Entity) -> None:
        deal["stage"] = deal.stage or "Open"

    assert (await Deal.create(name="A")).stage == "Open"


async def test_stale_version_is_a_conflict(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    deal = await Deal.create(name="A")
    await Deal.update(deal.id, name="B", version=1)
    with pytest.raises(ConflictError) as err:
        await Deal.update(deal.id, name="C", version=1)
    assert err.value.code == "version_conflict"
    assert (await Deal.get(deal.id)).name == "B"


async def test_validation_errors_list_every_field(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    with pytest.raises(ValidationError) as err:
        await Deal.create(value="lots", stage="Maybe", contact="person_1", colour="red")
    codes = {(e.field, e.code) for e in err.value.errors}
    assert codes == {
        ("value", "type"),
        ("stage", "enum"),
        ("contact", "relation"),
        ("colour", "unknown_field"),
        ("name", "required"),
    }
    assert await Deal.count() == 0


async def test_event_and_jobs_commit_with_the_entity(hub: hubwire.Hub) -> None:
    from hubwire.jobs import queue
    from hubwire.jobs.kinds import job_kind

    @job_kind("test.noop")
    async def noop(job: hubwire.Job, hub: hubwire.Hub) -> None:
        return None

    Deal = deal_noun()

    async def enqueue_then_fail(tx: hubwire.hub.Tx, event: object) -> None:
        await queue.enqueue(tx, "test.noop", {"x": 1})
        raise RuntimeError("boom inside the transaction")

    hub.event_sinks.append(enqueue_then_fail)
    with pytest.raises(RuntimeError):
        await Deal.create(name="A")
    hub.event_sinks.remove(enqueue_then_fail)
    async with hub.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one() == 0
    assert await Deal.count() == 0 and await event_types(hub) == []


async def test_camel_case_input_and_attribute_access(hub: hubwire.Hub) -> None:
    Thing = Noun("Thing", {"displayName": "string!", "isActive": "boolean"})
    t = await Thing.create({"displayName": "x", "isActive": True})
    assert t["display_name"] == "x" and t.displayName == "x" and t.is_active is True


async def test_verb_states_move_to_a_state_not_named_like_the_event(hub: hubwire.Hub) -> None:
    Ticket = Noun(
        "Ticket",
        {"title": "string!", "status": "Open | Done", "finish": "Done", "reopen": "Reopened"},
        states={"status": {"Open": ["Done"], "Done": ["Open"]}},
        verb_states={"reopen": "Open"},
    )
    t = await Ticket.create(title="x", status="Open")
    assert (await Ticket.finish(t.id)).status == "Done"
    back = await Ticket.reopen(t.id)
    assert back.status == "Open"
    with pytest.raises(IllegalTransitionError):
        await Ticket.reopen(t.id)
    assert (await event_types(hub))[-2:] == ["Ticket.Done", "Ticket.Reopened"]


def test_verb_states_must_name_a_verb_and_a_state() -> None:
    with pytest.raises(ValidationError):
        Noun("Bad", {"status": "A | B", "go": "Went"}, verb_states={"stop": "A"})
    with pytest.raises(ValidationError):
        Noun("Bad", {"status": "A | B", "go": "Went"}, verb_states={"go": "C"})


async def test_every_verb_taking_an_id_takes_the_seeds_object_form(hub: hubwire.Hub) -> None:
    Deal = deal_noun()
    deal = await Deal.create(name="A", stage="Open")
    assert (await Deal.get({"id": deal.id})).id == deal.id
    renamed = await Deal.update({"id": deal.id, "name": "B"})
    assert renamed.name == "B" and renamed.version == 2
    lost = await Deal.lose({"id": deal.id})
    assert lost.stage == "Lost"
    reopened = await Deal.update({"$id": deal.id}, stage="Open")
    closed = await Deal.close({"id": deal.id, "value": 10})
    assert reopened.stage == "Open" and closed.stage == "Closed" and closed.value == 10
    positional = await Deal.create(name="C", stage="Open")
    assert (await Deal.close(positional.id)).stage == "Closed"
    with pytest.raises(ValidationError) as err:
        await Deal.close({"name": "no id"})
    assert err.value.errors[0].field == "id"
    assert (await Deal.delete({"id": deal.id})).id == deal.id
    assert await Deal.count() == 1


async def test_event_only_verbs_are_declared_and_not_callable(hub: hubwire.Hub) -> None:
    Ticket = Noun(
        "Ticket",
        {"title": "string!", "state": "Open | Done", "finish": "Done"},
        events={"flag": "Flagged"},
    )
    flagged: list[str] = []
    Ticket.flagging(lambda t: flagged.append(f"before:{t.title}"))
    Ticket.flagged(lambda t: flagged.append(f"after:{t.title}"))
    assert Ticket.verbs["flag"].event == "Flagged" and Ticket.internal_verbs == frozenset({"flag"})
    ticket = await Ticket.create(title="x", state="Open")
    with pytest.raises(AttributeError):
        Ticket.flag  # noqa: B018  (an event-only verb has no method of its own)
    with pytest.raises(ValidationError):
        await Ticket.perform("flag", ticket.id)
    with pytest.raises(ValidationError):
        Noun("Ticket2", {"title": "string", "finish": "Done"}, events={"finish": "Finished"})
    from hubwire.nouns import verbs

    await verbs.run(Ticket, ["flag"], ticket.id, {"title": "y"})
    assert flagged == ["before:y", "after:y"]
    assert await event_types(hub) == ["Ticket.Created", "Ticket.Flagged"]
