"""Apply one page of provider records to Nouns: create, update, delete or leave alone.

A page is applied in ONE transaction: the entity rows, one event per changed entity (so
webhooks and subscribers see every change, with the provider as ``source``), the external refs
with the hash of what was mapped, the resource's cursor and the run's counts. Records whose
mapped fields hash the same as last time are ``unchanged`` and write nothing, which makes a
re-run idempotent. Each record is a proposal of the verb pipeline (:mod:`hubwire.nouns.verbs`):
proposed and checked, before-hooks included (a veto counts as ``failed``), before the page's
transaction; the page writes them all with statements of its own (one per kind of change), and
the after-hooks and subscribers run once it committed. Write-through writers do not run: the
data comes from the provider, and so do its statuses (no state machine check).

Order: a record older than the one last applied (its ``remote_updated`` before the ref's) is left
alone, so a webhook delivered late never moves an entity back in time; a record without one keeps
the ref's, and an unchanged record newer than the ref still moves the ref's time forward (a sync
stores Stripe's objects with no time; the newest webhook, the same fields, then dates them). A
deleted remote object leaves a tombstone ref (:data:`~hubwire.sync.state.TOMBSTONE`) with the time
of its deletion, so a change older than the deletion does not bring it back. A page
that creates checks, under the event log's lock, that no other writer (a webhook, a sync) linked
the same remote objects since the plan read them; if one did, ``VersionConflictError``: plan again.

Both sides: a record whose entity changed locally since the last sync (its version moved away
from the ref's) is merged field by field against the ref's base (:func:`hubwire.sync.merge.three_way`):
remote-only changes are taken, local-only ones kept and owed to the provider through the push
outbox (:func:`hubwire.push.outbox.owe`, for the fields it can take: :meth:`Provider.pushable`),
and fields changed on both sides are decided by the Integration's policies; each such clash is a
row of the review queue (:mod:`hubwire.sync.conflicts`) with its ``Conflict.*`` events, all in the
page's transaction. Only those few records load their base: the others compare by hash and version.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.errors import HubwireError, VersionConflictError
from hubwire.nouns import verbs
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.nouns.noun import Noun
from hubwire.push import outbox
from hubwire.store import events as event_log
from hubwire.store.events import iso
from hubwire.store.ids import new_ids
from hubwire.store.tables import entities
from hubwire.sync import conflicts as queue_rows
from hubwire.sync.merge import Merge, Policies, three_way
from hubwire.sync.runs import SyncRun, heartbeat
from hubwire.sync.state import (
    DIVERGED,
    TOMBSTONE,
    Ref,
    in_list,
    load_bases,
    load_refs,
    mark_refs,
    refs_doc,
    save_cursor,
    save_refs,
)

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "Incoming",
    "PagePlan",
    "PageResult",
    "apply_page",
    "fingerprint",
    "plan_page",
    "resolve_links",
    "stored_base",
    "to_epoch",
    "write_page",
]


# A page's new entities in one short statement, the page as one JSON parameter: not a Bind/Execute
# (PostgreSQL) or a parameter set (SQLite) per row, each with its own JSON encoding.
_CREATE_MANY = {
    "postgresql": sa.text(
        "INSERT INTO entities (id, type, data, version, created_at, updated_at) "
        "SELECT id, :type, data, 1, :now, :now FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, data jsonb)"
    ),
    "sqlite": sa.text(
        "INSERT INTO entities (id, type, data, version, created_at, updated_at) "
        "SELECT json_extract(value, '$.id'), :type, json_extract(value, '$.data'), 1, :now, :now FROM json_each(:rows)"
    ),
}


_YIELD_EVERY = 10  # records planned between two turns of the event loop
_CREATE, _UPDATE = ("create",), ("update",)
_UPDATE_IF_VERSION = (
    entities.update()
    .where(entities.c.id == sa.bindparam("b_id"), entities.c.version == sa.bindparam("b_version"))
    .values(
        data=sa.bindparam("b_data", type_=entities.c.data.type),
        version=sa.bindparam("b_next"),
        updated_at=sa.bindparam("b_now"),
    )
)


@dataclass
class Incoming:
    """One remote record, mapped: Noun fields plus relations still as (resource, remote id)."""

    remote_id: str
    fields: dict[str, Any]
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    remote_updated: float | None = None
    deleted: bool = False


@dataclass
class PageResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # remote id -> why its record failed


def fingerprint(fields: dict[str, Any]) -> str:
    return _fingerprinted(fields)[1]


def _fingerprinted(fields: dict[str, Any]) -> tuple[str, str]:
    """``fields`` as canonical JSON, and its hash: the JSON is also the ref's base, saved as is."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return blob, hashlib.sha256(blob.encode()).hexdigest()[:32]


def to_epoch(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


async def resolve_links(hub: Hub, integration_id: str, items: Sequence[Incoming]) -> None:
    """Fill each record's relation fields with the local ids its links (resource, remote id) have."""
    wanted: dict[str, set[str]] = {}
    for it in items:
        for resource, rid in it.links.values():
            wanted.setdefault(resource, set()).add(rid)
    found: dict[tuple[str, str], str] = {}
    if wanted:
        async with hub.read() as conn:
            for resource, ids in wanted.items():
                for rid, ref in (await load_refs(conn, integration_id, resource, ids)).items():
                    found[(resource, rid)] = ref.entity_id
    for it in items:
        for fname, key in it.links.items():
            it.fields[fname] = found.get(key)


@dataclass
class PagePlan:
    """A page compared with what is stored (refs, entities, hashes), validated and hooked: ready to write."""

    noun: Noun
    integration_id: str
    resource: str
    source: str
    cursor: dict[str, Any] | None
    cursor_resource: str
    run: SyncRun | None
    now: float
    now_iso: str
    seen: int
    keys: frozenset[tuple[str, str]]  # (resource, remote id) of the records and their links: what was read
    result: PageResult
    # (record, new id, fields to store, hash) and (record, current entity, fields to store, hash)
    creates: list[tuple[Incoming, str, dict[str, Any], str]] = field(default_factory=list)
    updates: list[tuple[Incoming, Entity, dict[str, Any], str]] = field(default_factory=list)
    removals: list[tuple[Incoming, Entity]] = field(default_factory=list)
    gone: list[Ref] = field(default_factory=list)  # tombstones of the deleted remote objects
    kept: list[Ref] = field(default_factory=list)
    # (remote id, hash, remote_updated) of the unchanged records newer than their ref says: the time
    # is kept, so that an older record arriving after (a late webhook) is known as older.
    marks: list[tuple[str, str, float]] = field(default_factory=list)
    # remote id -> (entity id, hash) of the ref the plan read, or None: what a create expects to find
    claimed: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    # Field merges: the ref each merged record leaves (by remote id; its entity_version is filled
    # in when written), new review-queue rows, open rows added to, entities to push.
    merged: dict[str, Ref] = field(default_factory=dict)
    conflict_rows: list[dict[str, Any]] = field(default_factory=list)
    conflict_updates: list[queue_rows.Conflict] = field(default_factory=list)
    pushes: list[tuple[str, int]] = field(default_factory=list)  # (entity id, version once written)
    base_docs: dict[str, str] = field(default_factory=dict)  # remote id -> the record's base as JSON text
    # Made by the plan so the transaction has only statements to send (see _prepare).
    create_doc: str = ""
    update_params: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[str, Entity]] = field(default_factory=list)  # (verb, entity as committed)
    refs: list[Ref] = field(default_factory=list)
    refs_doc: str = ""
    events: event_log.Prepared | None = None

    def reads(self, other: PagePlan) -> bool:
        """Whether this plan read something ``other`` writes (then it must be made again after ``other``)."""
        return not self.keys.isdisjoint(other.keys)


async def apply_page(
    hub: Hub,
    *,
    integration_id: str,
    resource: str,
    noun: Noun,
    items: Sequence[Incoming],
    source: str,
    cursor: dict[str, Any] | None = None,
    cursor_resource: str | None = None,
    run: SyncRun | None = None,
    policies: Policies | None = None,
    pushable: frozenset[str] = frozenset(),
) -> PageResult:
    """Apply ``items`` and save ``cursor`` (for ``cursor_resource``, default ``resource``) in one transaction."""
    plan = await plan_page(
        hub,
        integration_id=integration_id,
        resource=resource,
        noun=noun,
        items=items,
        source=source,
        cursor=cursor,
        cursor_resource=cursor_resource,
        run=run,
        policies=policies,
        pushable=pushable,
    )
    return await write_page(hub, plan)


async def plan_page(
    hub: Hub,
    *,
    integration_id: str,
    resource: str,
    noun: Noun,
    items: Sequence[Incoming],
    source: str,
    cursor: dict[str, Any] | None = None,
    cursor_resource: str | None = None,
    run: SyncRun | None = None,
    policies: Policies | None = None,
    pushable: frozenset[str] = frozenset(),
) -> PagePlan:
    """Everything :func:`apply_page` does before its transaction: reads, mapping checks, before-hooks.

    ``policies`` decide fields changed on both sides; ``pushable`` are the fields the provider can
    take from Hubwire for this resource (local-only changes to them are queued for a push).

    Writes nothing. A plan is only valid until something it read changes: the sync engine makes
    the next page's plan while the current page is written, and makes it again if
    :meth:`PagePlan.reads` says the two pages share a record.
    """
    await noun.ensure_indexes(hub)
    result = PageResult()
    await resolve_links(hub, integration_id, items)
    # The last record wins when a page repeats an id (an events feed can).
    latest: dict[str, Incoming] = {}
    for it in items:
        latest[it.remote_id] = it
    async with hub.read() as conn:
        refs = await load_refs(conn, integration_id, resource, latest, tombstones=True)
        ids = [r.entity_id for r in refs.values()]
        where = in_list(entities.c.id, ids, hub.dialect)
        rows = (await conn.execute(sa.select(entities).where(where))).all() if ids else []
    current = {r.id: noun.from_row(r) for r in rows if r.type == noun.name}
    # Records whose entity changed locally since the last sync: merged field by field (rare, so only
    # these load their base and open conflicts).
    diverged = {
        rid: ref
        for rid, ref in refs.items()
        if not latest[rid].deleted and ref.entity_id in current and current[ref.entity_id].version != ref.entity_version
    }
    bases: dict[str, dict[str, Any] | None] = {}
    parked: dict[str, queue_rows.Conflict] = {}
    if diverged:
        async with hub.read() as conn:
            bases = await load_bases(conn, integration_id, resource, diverged)
            parked = await queue_rows.open_rows(conn, integration_id, [r.entity_id for r in diverged.values()])
    now = hub.clock()
    now_iso = iso(now)  # once per page, not twice per record
    keys = {(resource, rid) for rid in latest} | {key for it in items for key in it.links.values()}
    plan = PagePlan(
        noun=noun,
        integration_id=integration_id,
        resource=resource,
        source=source,
        cursor=cursor,
        cursor_resource=cursor_resource or resource,
        run=run,
        now=now,
        now_iso=now_iso,
        seen=len(latest),
        keys=frozenset(keys),
        result=result,
    )
    creates, updates, removals, gone, kept = plan.creates, plan.updates, plan.removals, plan.gone, plan.kept
    base_docs = plan.base_docs
    ctx = Context(hub)
    fresh = iter(new_ids(noun.name, sum(1 for k, it in latest.items() if k not in refs and not it.deleted)))
    for n, it in enumerate(latest.values(), 1):
        if n % _YIELD_EVERY == 0:
            # Let the previous page's transaction, written meanwhile, take its next step.
            await asyncio.sleep(0)
        ref = refs.get(it.remote_id)
        if ref is not None and _older(it, ref):
            result.unchanged += 1  # what is stored is newer: an older state never moves it back
            continue
        if it.remote_updated is None and ref is not None:
            it.remote_updated = ref.remote_updated  # the watermark stays until a newer one comes
        entity = current.get(ref.entity_id) if ref else None
        if it.deleted:
            if entity is not None:
                removals.append((it, entity))
            if ref is not None and ref.hash != TOMBSTONE:
                eid = entity.id if entity is not None else ref.entity_id
                gone.append(Ref(resource, it.remote_id, noun.name, eid, TOMBSTONE, 0, it.remote_updated))
            elif ref is None and it.remote_updated is not None:
                # Deleted before its creation arrived (webhooks out of order): the creation must not resurrect it.
                gone.append(Ref(resource, it.remote_id, noun.name, "", TOMBSTONE, 0, it.remote_updated))
            continue
        clean = {k: v for k, v in it.fields.items() if v is not None}
        blob, digest = _fingerprinted(clean)
        base_docs[it.remote_id] = blob
        try:
            if ref is not None and entity is not None:
                if ref.remote_id in diverged:
                    ref.base = bases.get(ref.remote_id)
                    merge = _merge(plan, it, ref, entity, digest, policies or Policies(), pushable, parked)
                    if merge.take:
                        proposal = verbs.propose(
                            noun, _UPDATE, entity, merge.take, eid=entity.id, now_iso=now_iso, check_states=False
                        )
                        updates.append((it, entity, await verbs.check(proposal, ctx), digest))
                    else:
                        kept.append(plan.merged[it.remote_id])
                        result.unchanged += 1
                    continue
                if ref.hash == digest:
                    result.unchanged += 1
                    if it.remote_updated is not None and (
                        ref.remote_updated is None or it.remote_updated > ref.remote_updated
                    ):
                        plan.marks.append((it.remote_id, digest, it.remote_updated))
                    continue
                # Every mapped field, so a value cleared at the provider is cleared here too.
                checked = noun.validate(it.fields, partial=True)
                proposal = verbs.propose(
                    noun, _UPDATE, entity, checked, eid=entity.id, now_iso=now_iso, check_states=False
                )
                updates.append((it, entity, await verbs.check(proposal, ctx), digest))
            else:
                # A ref without its entity (deleted locally, or a tombstone) is re-created under a new id.
                plan.claimed[it.remote_id] = (ref.entity_id, ref.hash) if ref is not None else None
                eid = next(fresh, None) or new_ids(noun.name, 1)[0]
                checked = noun.validate(clean, partial=False)
                proposal = verbs.propose(noun, _CREATE, None, checked, eid=eid, now_iso=now_iso, check_states=False)
                creates.append((it, eid, await verbs.check(proposal, ctx), digest))
        except HubwireError as exc:
            result.failed += 1
            result.errors.append(f"{resource} {it.remote_id}: {exc.message}")
            result.failures[it.remote_id] = exc.message
    _prepare(plan)
    return plan


def _older(it: Incoming, ref: Ref) -> bool:
    """Whether ``it`` is older than what ``ref`` last applied (a deletion also hides an equal time)."""
    if it.remote_updated is None or ref.remote_updated is None:
        return False
    if ref.hash == TOMBSTONE:
        return it.remote_updated <= ref.remote_updated
    return it.remote_updated < ref.remote_updated


def _prepare(plan: PagePlan) -> None:
    """The rows, entities, events and refs the page's transaction writes, made before it starts: the
    transaction of the page before runs meanwhile, and a transaction held open for less is better."""
    noun, resource, now, now_iso = plan.noun, plan.resource, plan.now, plan.now_iso
    refs = plan.refs = [*plan.kept, *plan.gone]
    changed = plan.changed
    stored_new = [_stored(final) for _, _, final, _ in plan.creates]  # once: the row and the entity share it
    if plan.creates:
        plan.create_doc = json.dumps(
            [{"id": eid, "data": data} for (_, eid, _, _), data in zip(plan.creates, stored_new, strict=True)]
        )
    for (it, eid, _, digest), data in zip(plan.creates, stored_new, strict=True):
        changed.append(("create", noun.entity_of(eid, data, 1, now_iso, now_iso)))
        refs.append(
            Ref(
                resource, it.remote_id, noun.name, eid, digest, 1, it.remote_updated, None, plan.base_docs[it.remote_id]
            )
        )
    for it, old, final, digest in plan.updates:
        data = _stored(final)
        plan.update_params.append(
            {"b_id": old.id, "b_version": old.version, "b_data": data, "b_next": old.version + 1, "b_now": now}
        )
        changed.append(("update", noun.entity_of(old.id, data, old.version + 1, old["created_at"], now_iso)))
        ref = plan.merged.get(it.remote_id)
        if ref is None:
            ref = Ref(
                resource,
                it.remote_id,
                noun.name,
                old.id,
                digest,
                old.version + 1,
                it.remote_updated,
                None,
                plan.base_docs[it.remote_id],
            )
        elif ref.entity_version != DIVERGED:
            ref.entity_version = old.version + 1
        refs.append(ref)
    changed += [("delete", old) for _, old in plan.removals]
    types = {v: verbs.event_type(noun, v) for v in ("create", "update", "delete")}
    plan.events = event_log.prepare_many([(types[verb], noun.name, e.id, dict(e), plan.source) for verb, e in changed])
    plan.refs_doc = refs_doc(refs) if refs else ""


async def write_page(hub: Hub, plan: PagePlan, *, also: Callable[[Tx], Awaitable[None]] | None = None) -> PageResult:
    """The page's ONE transaction (entities, events, refs, conflicts, cursor, run counts), then after-hooks.

    ``also`` writes the caller's bookkeeping in that transaction, last (the inbox: the status of
    the webhooks the page applied, so that they are applied once).
    """
    noun, integration_id, run, result = plan.noun, plan.integration_id, plan.run, plan.result
    assert plan.events is not None
    async with hub.transaction() as tx:
        if plan.creates:
            await _check_claims(tx, plan)
            params = {"type": noun.name, "now": plan.now, "rows": plan.create_doc}
            await tx.conn.execute(_CREATE_MANY[tx.dialect], params)
        if plan.updates:
            # One executemany; each row only if its version is still the one the plan read.
            res = await tx.conn.execute(_UPDATE_IF_VERSION, plan.update_params)
            if res.rowcount != len(plan.updates):
                moved = await _moved(tx, [old for _, old, _, _ in plan.updates], plan.now)
                raise VersionConflictError(f"{noun.name} {moved} changed during the sync", id=moved)
        if plan.removals:
            await tx.conn.execute(entities.delete().where(entities.c.id.in_([old.id for _, old in plan.removals])))
        # One event per changed entity, appended in one statement.
        evs = await event_log.append_many(tx, plan.events)
        await save_refs(tx, integration_id, plan.refs, doc=plan.refs_doc)
        if plan.marks:
            await mark_refs(tx, integration_id, plan.resource, plan.marks)
        for row in plan.conflict_rows:
            await queue_rows.insert(tx, row)
        for conflict in plan.conflict_updates:
            await queue_rows.update_fields(tx, conflict)
        for entity_id, version in plan.pushes:
            await outbox.owe(tx, integration_id, noun.name, entity_id, version)
        if plan.cursor is not None:
            await save_cursor(tx, integration_id, plan.cursor_resource, plan.cursor)
        result.created, result.updated, result.deleted = len(plan.creates), len(plan.updates), len(plan.removals)
        if run is not None:
            _count(run, noun.name, result, plan.seen)
            await heartbeat(tx, run)
        if also is not None:
            await also(tx)
    # After-hooks and subscribers, looked up once per page: most pages have none to call.
    listening = {v for v in ("create", "update", "delete") if verbs.listening(noun, v)}
    for (verb, entity), ev in zip(plan.changed, evs, strict=True):
        if verb in listening:
            await verbs.after(hub, noun, (verb,), entity, (ev,))
    return result


async def _check_claims(tx: Tx, plan: PagePlan) -> None:
    """Refuse (``VersionConflictError``) a create whose remote object another writer linked since the plan.

    Under the event log's lock every other writer has committed or waits, so what is read here is
    what this transaction's writes follow (a webhook and a sync creating the same object make one).
    """
    await event_log.hold_lock(tx)
    now = await load_refs(tx.conn, plan.integration_id, plan.resource, plan.claimed, tombstones=True)
    for rid, expected in plan.claimed.items():
        ref = now.get(rid)
        if (None if ref is None else (ref.entity_id, ref.hash)) != expected:
            raise VersionConflictError(
                f"{plan.resource} {rid} was linked by another writer during the sync", id=rid, resource=plan.resource
            )


async def _moved(tx: Tx, olds: Sequence[Entity], now: float) -> str:
    """Which of ``olds`` another writer changed, once this page's update of them left some out.

    Inside the page's transaction: a row this update changed has the next version and ``now``.
    """
    ids = [e.id for e in olds]
    q = sa.select(entities.c.id, entities.c.version, entities.c.updated_at).where(entities.c.id.in_(ids))
    rows = {r.id: r for r in (await tx.conn.execute(q)).all()}
    for e in olds:
        row = rows.get(e.id)
        if row is None or row.version != e.version + 1 or row.updated_at != now:
            return e.id
    return ids[0]


def _merge(
    plan: PagePlan,
    it: Incoming,
    ref: Ref,
    entity: Entity,
    digest: str,
    policies: Policies,
    pushable: frozenset[str],
    parked: dict[str, queue_rows.Conflict],
) -> Merge:
    """Merge one record into its locally changed entity; record the ref, conflict and push it leaves."""
    noun = plan.noun
    # Compared as stored: the base and the record through the Noun's validation, as the entity was.
    names = [n for n in it.fields if n in noun.fields]
    remote = {n: None for n in names} | noun.validate(_stored(it.fields), partial=True)
    base = stored_base(noun, ref.base) if ref.base is not None else None
    local_at = to_epoch(entity["updated_at"]) or 0.0
    remote_newer = it.remote_updated is None or it.remote_updated >= local_at
    merge = three_way(noun.name, names, base, entity, remote, policies, remote_newer=remote_newer)
    # The new base is the remote record, but for parked fields: they stay in conflict until resolved.
    new_base = _stored(it.fields)
    for f in merge.parked:
        was = ref.base.get(f) if ref.base is not None else None
        if was is None:
            new_base.pop(f, None)
        else:
            new_base[f] = was
    push = [f for f in merge.push if f in pushable]
    agrees = not merge.push and not merge.parked
    plan.merged[it.remote_id] = Ref(
        plan.resource,
        it.remote_id,
        noun.name,
        entity.id,
        digest,
        entity.version if agrees else DIVERGED,
        it.remote_updated,
        new_base,
    )
    if push:
        plan.pushes.append((entity.id, entity.version + 1 if merge.take else entity.version))
    if merge.clashes:
        plan.result.conflicts += 1
        _record(plan, it, entity, merge, parked.get(entity.id))
    return merge


def _record(plan: PagePlan, it: Incoming, entity: Entity, merge: Merge, open_row: queue_rows.Conflict | None) -> None:
    """The clashes of ``merge`` as a review-queue row: added to the entity's open one, if it has one."""
    fields = {f: c.to_dict() for f, c in merge.clashes.items()}
    if open_row is not None:
        open_row.fields.update(fields)
        plan.conflict_updates.append(open_row)
        return
    outcomes = {c.outcome for c in merge.clashes.values()}
    policies = {c.policy for c in merge.clashes.values()}
    parked = None in outcomes
    plan.conflict_rows.append(
        {
            "integration_id": plan.integration_id,
            "run_id": plan.run.id if plan.run else None,
            "resource": plan.resource,
            "remote_id": it.remote_id,
            "entity_type": plan.noun.name,
            "entity_id": entity.id,
            "policy": policies.pop() if len(policies) == 1 else "mixed",
            "winner": "local" if outcomes <= {"local", None} else "remote" if outcomes == {"remote"} else "mixed",
            "local": entity.fields(),
            "remote": _stored(it.fields),
            "created_at": plan.now,
            "status": "open" if parked else "resolved",
            "fields": fields,
            "resolved_by": None if parked else "system",
            "resolved_at": None if parked else plan.now,
            "reason": None if parked else "decided by policy",
        }
    )


def _count(run: SyncRun, noun: str, r: PageResult, seen: int) -> None:
    for kind in ("created", "updated", "unchanged", "deleted", "failed", "conflicts"):
        run.add(noun, kind, getattr(r, kind))
    run.records += seen


def stored_base(noun: Noun, base: dict[str, Any]) -> dict[str, Any]:
    """A ref's base (the provider's record as last synced) as the entity stores values, unset ones as None.

    What the field merge compares the entity with, and what a push owed by a merge sends the
    difference from (:mod:`hubwire.push.job`).
    """
    clean = {k: v for k, v in base.items() if v is not None and k in noun.fields}
    return {n: None for n in base} | noun.validate(clean, partial=True)


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    return {n: v for n, v in fields.items() if v is not None}
