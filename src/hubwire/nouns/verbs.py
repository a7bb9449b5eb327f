"""The verb pipeline: the one internal interface through which every change to an entity goes.

    propose -> before-hooks (may veto) -> settle (complete, re-check states) -> write -> after

1. :func:`propose`: the entity the verb would leave (current fields, the validated changes, the
   verbs' status moves), its state machines checked;
2. :func:`check`: the before-hooks (``creating``, ``closing``...) may change the proposed entity or
   veto by raising (a ``VetoError``, nothing written); then the result is complete and valid, and a
   status a hook moved still obeys its state machine;
3. :func:`write`: the entity row (optimistic version check) and its event(s), in the CALLER's
   transaction, where the caller adds the jobs the change causes;
4. :func:`after`: once that transaction committed, the after-hooks and ``hubwire.on`` subscribers,
   in process, on the committed entity (a failing one is logged, never undoes the change).

:func:`run` is the whole pipeline for one entity in its own transaction (``Noun``'s verbs and the
domains' verbs). The sync engine writes a page of proposals in one transaction with statements
of its own, and uses :func:`propose`, :func:`check` and :func:`after` for each record.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import IntegrityError

from hubwire.errors import ConflictError, FieldError, HubwireError, ValidationError, VersionConflictError, VetoError
from hubwire.hub import current_hub
from hubwire.nouns.entity import META, Entity
from hubwire.nouns.hooks import Context, call_hook, subscribers
from hubwire.store import events as event_log
from hubwire.store.events import iso
from hubwire.store.ids import new_id
from hubwire.store.tables import entities

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.noun import Noun
    from hubwire.nouns.schema import VerbDecl
    from hubwire.store.transaction import Tx

__all__ = [
    "InTx",
    "Proposal",
    "VerbCall",
    "Writer",
    "acting_as",
    "after",
    "before",
    "check",
    "current_source",
    "event_type",
    "invalid",
    "listening",
    "propose",
    "repeatable",
    "run",
    "write",
]

log = structlog.get_logger("hubwire.nouns")
InTx = Callable[["Tx", Entity], Awaitable[None]]
# The field of a unique index named by hubwire.store.indexes.index_name (``ux_ent_<type>_<field>_o``).
_UNIQUE_INDEX = re.compile(r"ux_ent_[a-z0-9]+_([a-z0-9_]+?)_o\b")
_NOTHING_MOVED: frozenset[str] = frozenset()
_source: contextvars.ContextVar[str] = contextvars.ContextVar("hubwire_source", default="api")


def current_source() -> str:
    """Where the verbs running now come from: ``"api"``, or a provider's slug during its sync."""
    return _source.get()


@contextlib.contextmanager
def acting_as(source: str) -> Iterator[None]:
    """Mark the verbs run inside as coming from ``source`` (e.g. ``"stripe"`` during a sync)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def invalid(noun: str, errors: Sequence[FieldError]) -> ValidationError:
    """The one "invalid X: ..." error of a Noun's fields."""
    return ValidationError(f"invalid {noun}: " + "; ".join(e.message for e in errors), list(errors), noun=noun)


def event_type(noun: Noun, verb: str) -> str:
    return f"{noun.name}.{noun.verbs[verb].event}"


@dataclass(slots=True)
class Proposal:
    """One verb's change to one entity, before it is written: ``entity`` is what hooks see and change."""

    noun: Noun
    verbs: tuple[VerbDecl, ...]
    current: Entity | None
    entity: Entity
    changes: dict[str, Any]
    moved: frozenset[str] = frozenset()
    check_states: bool = True

    @property
    def id(self) -> str:
        return self.entity.id

    def fields(self) -> dict[str, Any]:
        """The Noun's fields of the proposed entity, as they would be stored (``None`` for unset)."""
        entity = self.entity
        return {n: entity.get(n) for n in self.noun.fields}


@dataclass
class VerbCall:
    """What a write-through writer sees, and may change, before the transaction."""

    noun: Noun
    verb: str
    id: str
    current: Entity | None
    proposed: Entity
    changes: dict[str, Any]
    hub: Hub
    source: str
    in_tx: list[InTx] = field(default_factory=list)


Writer = Callable[[VerbCall], Awaitable[None]]


def repeatable(writer: Writer) -> Writer:
    """Mark a writer that calls out to nothing (it checks, and adds to the verb's transaction): a
    verb that loses a race with another writer may run it again. A write-through writer that calls
    a provider is not repeatable: its verb fails rather than call the provider twice."""
    writer.repeatable = True  # type: ignore[attr-defined]
    return writer


def propose(
    noun: Noun,
    verbs: Sequence[str],
    current: Entity | None,
    changes: dict[str, Any],
    *,
    eid: str,
    now_iso: str,
    check_states: bool = True,
) -> Proposal:
    """The entity ``verbs`` would leave: ``current`` (or a new one) with the validated ``changes``.

    Each verb moves the enum field named by its event (``connect`` -> ``Connected``). With
    ``check_states`` every moved or changed status must be a legal move of its state machine (a
    sync passes ``False``: the provider's record is the truth, whatever the local machine says).
    """
    decls = tuple([noun.verbs[v] for v in verbs])
    fields = current.fields() if current is not None else dict(noun.blank)
    fields.update(changes)
    moved: frozenset[str] = _NOTHING_MOVED
    for verb in verbs:
        move = noun.verb_moves.get(verb)
        if move is not None:
            fields[move[0]] = move[1]
            moved |= {move[0]}
    entity = Entity(
        {
            "$id": eid,
            "$type": noun.name,
            **fields,
            "created_at": current["created_at"] if current is not None else now_iso,
            "updated_at": now_iso,
            "version": current.version + 1 if current is not None else 1,
        }
    )
    proposal = Proposal(noun, decls, current, entity, changes, moved, check_states)
    if check_states:
        _check_states(proposal, fields)
    return proposal


async def check(proposal: Proposal, ctx: Context, *, run_before: bool = True) -> dict[str, Any]:
    """Run the before-hooks (a raise vetoes), then check the result; return the fields to store."""
    noun = proposal.noun
    hooked = False
    if run_before:
        for decl in proposal.verbs:
            for hook in noun.hooks.before[decl.verb]:
                hooked = True
                await _run_before(noun, decl, hook, proposal.entity, ctx)
    final = proposal.fields()
    if hooked:
        # A hook may have changed anything, added a key or moved a status: check it all again.
        extra = [k for k in proposal.entity if k not in noun.fields and k not in META and k != "$type"]
        errors = [FieldError(k, "unknown_field", f"{noun.name} has no field {k!r}") for k in extra]
        for n, f in noun.fields.items():
            value = final[n]
            if value is None:
                if f.required:
                    errors.append(FieldError(n, "required", f"{n} is required"))
                continue
            _, err = f.check(value)
            if err is not None:
                errors.append(err)
        if errors:
            raise invalid(noun.name, errors)
        if proposal.check_states:
            _check_states(proposal, final)
    elif proposal.current is not None:
        # Every value was validated on the way in; an update has not yet checked the required ones.
        missing = [n for n, f in noun.fields.items() if f.required and final[n] is None]
        if missing:
            raise invalid(noun.name, [FieldError(n, "required", f"{n} is required") for n in missing])
    return final


async def before(noun: Noun, verb: str, entity: Entity, ctx: Context) -> None:
    """A verb's before-hooks on ``entity`` alone (for a verb whose work starts before its write)."""
    decl = noun.verbs[verb]
    for hook in noun.hooks.before[verb]:
        await _run_before(noun, decl, hook, entity, ctx)


async def _run_before(noun: Noun, decl: VerbDecl, hook: Callable[..., Any], entity: Entity, ctx: Context) -> None:
    try:
        await call_hook(hook, entity, ctx)
    except HubwireError:
        raise
    except Exception as exc:
        raise VetoError(
            str(exc) or f"{noun.name}.{decl.before} refused",
            noun=noun.name,
            verb=decl.verb,
            id=entity.id,
            hook=getattr(hook, "__name__", None),
        ) from exc


def _check_states(proposal: Proposal, fields: Mapping[str, Any]) -> None:
    noun, current = proposal.noun, proposal.current
    for fname, machine in noun.machines.items():
        src = current.get(fname) if current is not None else None
        dst = fields.get(fname)
        if dst is None or (src == dst and fname not in proposal.moved):
            continue
        machine.check(noun.name, current.id if current is not None else None, src, dst)


async def write(
    tx: Tx, proposal: Proposal, final: dict[str, Any], *, delete: bool = False, source: str
) -> tuple[Entity, list[event_log.EventRecord]]:
    """Write the entity row and one event per verb in ``tx`` (the caller's transaction).

    An update or delete applies only to the version the proposal read: a row changed meanwhile
    raises ``VersionConflictError``, a duplicate unique field ``unique_violation``.
    """
    noun, current, eid = proposal.noun, proposal.current, proposal.id
    now = tx.hub.clock()
    stored = {k: v for k, v in final.items() if v is not None}
    try:
        if current is None:
            await tx.conn.execute(
                entities.insert().values(id=eid, type=noun.name, data=stored, version=1, created_at=now, updated_at=now)
            )
            entity = noun.entity_of(eid, stored, 1, iso(now), iso(now))
        else:
            if delete:
                stmt: Any = entities.delete().where(entities.c.id == eid, entities.c.version == current.version)
            else:
                stmt = (
                    entities.update()
                    .where(entities.c.id == eid, entities.c.version == current.version)
                    .values(data=stored, version=current.version + 1, updated_at=now)
                )
            res = await tx.conn.execute(stmt)
            if res.rowcount != 1:
                raise VersionConflictError(f"{noun.name} {eid} changed while this verb ran", noun=noun.name, id=eid)
            if delete:
                entity = current
            else:
                entity = noun.entity_of(eid, stored, current.version + 1, current["created_at"], iso(now))
    except IntegrityError as exc:
        m = _UNIQUE_INDEX.search(str(exc.orig))
        fname = m.group(1) if m else "id"
        raise ConflictError(
            f"another {noun.name} already has this {fname} ({stored.get(fname)!r})",
            code="unique_violation",
            noun=noun.name,
            field=fname,
        ) from None
    appended = [
        await event_log.append(tx, f"{noun.name}.{decl.event}", noun.name, eid, dict(entity), source)
        for decl in proposal.verbs
    ]
    return entity, appended


def listening(noun: Noun, verb: str) -> bool:
    """Whether anything runs after ``verb`` commits (after-hooks or subscribers): most often nothing."""
    return bool(noun.hooks.after[verb]) or bool(subscribers(event_type(noun, verb)))


async def after(
    hub: Hub, noun: Noun, verbs: Iterable[str], entity: Entity, events: Sequence[event_log.EventRecord]
) -> None:
    """After-hooks and subscribers of each verb, once its transaction committed; failures are logged."""
    for verb, event in zip(verbs, events, strict=True):
        decl = noun.verbs[verb]
        ctx = Context(hub, event)
        for hook in [*noun.hooks.after[verb], *subscribers(f"{noun.name}.{decl.event}")]:
            try:
                await call_hook(hook, entity, ctx)
            except Exception as exc:  # the change is committed; a hook failure must not hide that
                log.error(
                    "hook.failed",
                    noun=noun.name,
                    verb=verb,
                    id=entity.id,
                    hook=getattr(hook, "__name__", repr(hook)),
                    error=str(exc),
                )


async def run(
    noun: Noun,
    verbs: Sequence[str],
    entity_id: str | None,
    changes: Mapping[str, Any],
    *,
    delete: bool = False,
    expected_version: int | None = None,
    coerce: bool = False,
    in_tx: Sequence[InTx] = (),
    run_before: bool = True,
) -> Entity:
    """The whole pipeline for one entity: ``entity_id=None`` creates it (``verbs`` start with ``create``).

    ``in_tx`` callbacks run in the verb's transaction with the written entity (credentials, jobs).
    Without ``expected_version``, an update that loses a race with another writer is proposed again
    (up to three times), unless a write-through writer already called its provider.
    """
    hub = await current_hub()
    await noun.ensure_indexes(hub)
    source = current_source()
    create = entity_id is None
    clean = noun.validate(changes, partial=not create, coerce=coerce)
    tries = 3 if expected_version is None and not create else 1
    for attempt in range(tries):
        current = None if entity_id is None else await noun.load(hub, entity_id)
        if current is not None and expected_version is not None and current.version != expected_version:
            raise VersionConflictError(
                f"{noun.name} {current.id} is at version {current.version}, not {expected_version}",
                noun=noun.name,
                id=current.id,
                version=current.version,
            )
        eid = current.id if current is not None else new_id(noun.name)
        proposal = propose(noun, verbs, current, clean, eid=eid, now_iso=iso(hub.clock()))
        final = await check(proposal, Context(hub), run_before=run_before)
        call = VerbCall(noun, verbs[0], eid, current, proposal.entity, dict(clean), hub, source)
        if not delete or noun.writers:
            for writer in noun.writers:
                await writer(call)
            final = proposal.fields()
        try:
            async with hub.transaction() as tx:
                entity, appended = await write(tx, proposal, final, delete=delete, source=source)
                for fn in [*in_tx, *call.in_tx]:
                    await fn(tx, entity)
        except VersionConflictError:
            if attempt + 1 < tries and all(getattr(w, "repeatable", False) for w in noun.writers):
                continue
            raise
        await after(hub, noun, verbs, entity, appended)
        return entity
    raise AssertionError("unreachable")  # pragma: no cover
