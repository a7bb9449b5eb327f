"""Noun: a typed entity kind with verbs, hooks, events and an optional state machine.

A verb runs in this order, and writes nothing unless it reaches step 5:

1. load the current entity (for everything but ``create``);
2. validate the input against the schema, apply the verb's status move, check state machines;
3. before-hooks (``creating``, ``closing``...): may change the proposed entity or veto by raising;
4. write-through writers (connectors) call the provider first, with an idempotency key;
5. ONE transaction: the entity row (optimistic version check), its event(s), the jobs they cause;
6. after-hooks and ``hubwire.on`` subscribers, in process, on the committed entity.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError

from hubwire.errors import ConflictError, FieldError, HubwireError, NotFoundError, ValidationError, VetoError
from hubwire.hub import Hub, Tx, current_hub
from hubwire.nouns import filters
from hubwire.nouns.entity import META, Entity, Page
from hubwire.nouns.hooks import Context, Hook, call_hook, subscribers
from hubwire.nouns.ids import new_id
from hubwire.nouns.schema import BUILTIN_VERBS, Field, VerbDecl, camel_to_snake, parse_schema
from hubwire.nouns.states import StateMachine
from hubwire.nouns.values import is_plain
from hubwire.store import events as event_log
from hubwire.store.events import iso
from hubwire.store.tables import entities

__all__ = ["InTx", "Noun", "VerbCall", "acting_as", "current_source"]

log = structlog.get_logger("hubwire.nouns")
InTx = Callable[[Tx, Entity], Awaitable[None]]
_source: contextvars.ContextVar[str] = contextvars.ContextVar("hubwire_source", default="api")
_UNIQUE_INDEX = re.compile(r"ux_ent_[a-z0-9]+_([a-z0-9_]+)")
_META = frozenset(META)


def current_source() -> str:
    return _source.get()


@contextlib.contextmanager
def acting_as(source: str) -> Iterator[None]:
    """Mark the verbs run inside as coming from ``source`` (e.g. ``"stripe"`` during a sync)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


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


def _plural(name: str) -> str:
    n = name.lower()
    if n.endswith("y") and n[-2:-1] not in "aeiou":
        return n[:-1] + "ies"
    if n.endswith(("s", "x", "ch", "sh")):
        return n + "es"
    return n + "s"


class Noun:
    """A typed entity kind. ``Deal = Noun("Deal", {"name": "string!", "close": "Closed"})``."""

    registry: dict[str, Noun] = {}

    def __init__(
        self,
        name: str,
        schema: Mapping[str, str],
        *,
        plural: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        states: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        aliases: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        verb_states: Mapping[str, str] | None = None,
        description: str = "",
    ) -> None:
        parsed = parse_schema(name, dict(schema))
        self.name = name
        self.plural = plural or _plural(name)
        self.description = description
        self.fields: dict[str, Field] = parsed.fields
        self.verbs: dict[str, VerbDecl] = {**BUILTIN_VERBS, **parsed.verbs}
        self.defaults = self._check_defaults(defaults or {})
        self.machines: dict[str, StateMachine] = {}
        for fname, moves in (states or {}).items():
            f = self.fields.get(fname)
            if f is None or f.type != "enum":
                raise ValidationError.single(fname, "state_machine", f"{name}.{fname} is not an enum field")
            self.machines[fname] = StateMachine.build(fname, moves, f.enum)
        self.filter_aliases = {k: {a: list(v) for a, v in m.items()} for k, m in (aliases or {}).items()}
        # A verb moves an enum field to the value named like its event (connect -> Connected), or to
        # the value ``verb_states`` gives it when the event is not a state (reopen -> Reopened, to Open).
        self.verb_moves: dict[str, tuple[str, str]] = {}
        explicit = dict(verb_states or {})
        for verb in explicit:
            if verb not in parsed.verbs:
                raise ValidationError.single("verb_states", "unknown_verb", f"{name} declares no verb {verb!r}")
        for verb, decl in parsed.verbs.items():
            value = explicit.get(verb, decl.event)
            enums = [f for f in self.fields.values() if f.type == "enum" and not f.many and value in f.enum]
            enums.sort(key=lambda f: f.name not in self.machines)  # a field with a state machine first
            if enums:
                self.verb_moves[verb] = (enums[0].name, value)
            elif verb in explicit:
                raise ValidationError.single(
                    "verb_states", "unknown_state", f"{name}.{verb} moves to {value!r}, which no enum field holds"
                )
        self._hook_names: dict[str, tuple[str, str]] = {}
        for verb, decl in self.verbs.items():
            self._hook_names[decl.before] = ("before", verb)
            self._hook_names[decl.after] = ("after", verb)
        self._before: dict[str, list[Hook]] = {v: [] for v in self.verbs}
        self._after: dict[str, list[Hook]] = {v: [] for v in self.verbs}
        self.writers: list[Writer] = []
        Noun.registry[name] = self

    def __repr__(self) -> str:
        return f"Noun({self.name!r})"

    # hooks ---------------------------------------------------------------------------
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        hook = self.__dict__.get("_hook_names", {}).get(attr)
        if hook is not None:
            when, verb = hook

            def register(fn: Hook) -> Hook:
                (self._before if when == "before" else self._after)[verb].append(fn)
                return fn

            return register
        verbs = self.__dict__.get("verbs", {})
        if attr in verbs and attr not in BUILTIN_VERBS:

            async def perform(entity_id: str, data: Mapping[str, Any] | None = None, /, **changes: Any) -> Entity:
                return await self.perform(attr, entity_id, {**(data or {}), **changes})

            perform.__name__ = attr
            return perform
        raise AttributeError(f"{self.__dict__.get('name', 'Noun')} has no verb or hook {attr!r}")

    def before(self, verb: str, fn: Hook) -> Hook:
        self._verb(verb)
        self._before[verb].append(fn)
        return fn

    def after(self, verb: str, fn: Hook) -> Hook:
        self._verb(verb)
        self._after[verb].append(fn)
        return fn

    def add_writer(self, writer: Writer) -> Writer:
        """Register a write-through writer (a connector that owns this Noun)."""
        self.writers.append(writer)
        return writer

    @classmethod
    def snapshot_hooks(cls) -> dict[str, Any]:
        return {
            n: (
                {k: list(v) for k, v in x._before.items()},
                {k: list(v) for k, v in x._after.items()},
                list(x.writers),
            )
            for n, x in cls.registry.items()
        }

    @classmethod
    def restore_hooks(cls, saved: dict[str, Any]) -> None:
        for n, x in cls.registry.items():
            before, after, writers = saved.get(n, ({v: [] for v in x.verbs}, {v: [] for v in x.verbs}, []))
            x._before, x._after, x.writers = before, after, writers

    def _verb(self, verb: str) -> VerbDecl:
        decl = self.verbs.get(verb)
        if decl is None:
            raise ValidationError.single("verb", "unknown_verb", f"{self.name} has no verb {verb!r}")
        return decl

    # read ------------------------------------------------------------------------------
    async def get(self, entity_id: str) -> Entity:
        hub = await current_hub()
        return await self._load(hub, entity_id)

    async def find(
        self,
        filter: Mapping[str, Any] | None = None,
        /,
        *,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        coerce: bool = False,
        **equals: Any,
    ) -> Page:
        """Entities matching ``filter`` (and ``field=value`` keywords), a page at a time."""
        hub = await current_hub()
        await hub.ensure_noun(self)
        flt = {**(filter or {}), **equals}
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationError.single("limit", "range", "limit must be an integer from 1 to 1000")
        where = filters.compile_filter(self, flt, hub.dialect, coerce=coerce)
        key = filters.sort_keys(self, sort, hub.dialect)
        if cursor:
            value, last_id = filters.decode_cursor(cursor, key.kind)
            where = sa.and_(where, filters.after_cursor(key, value, last_id))
        order = (
            [key.expr.desc().nulls_last(), entities.c.id.desc()]
            if key.descending
            else [key.expr.asc().nulls_first(), entities.c.id.asc()]
        )
        q = sa.select(entities).where(where).order_by(*order).limit(limit + 1)
        async with hub.read() as conn:
            rows = (await conn.execute(q)).all()
        items = [self._entity(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            value = getattr(last, key.name) if key.name in ("created_at", "updated_at") else last.data.get(key.name)
            next_cursor = filters.encode_cursor(value, last.id)
        return Page(items, next_cursor)

    async def count(self, filter: Mapping[str, Any] | None = None, /, **equals: Any) -> int:
        hub = await current_hub()
        where = filters.compile_filter(self, {**(filter or {}), **equals}, hub.dialect)
        async with hub.read() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(entities).where(where))).scalar_one())

    async def _load(self, hub: Hub, entity_id: str) -> Entity:
        if not isinstance(entity_id, str) or not entity_id:
            raise ValidationError.single("id", "type", f"a {self.name} id must be a non-empty string")
        async with hub.read() as conn:
            row = (
                await conn.execute(sa.select(entities).where(entities.c.id == entity_id, entities.c.type == self.name))
            ).first()
        if row is None:
            raise NotFoundError(f"{self.name} {entity_id} not found", noun=self.name, id=entity_id)
        return self._entity(row)

    def _entity(self, row: Any) -> Entity:
        return self._entity_of(row.id, row.data, row.version, iso(row.created_at), iso(row.updated_at))

    def _entity_of(self, eid: str, data: Mapping[str, Any], version: int, created: str, updated: str) -> Entity:
        """The entity of a stored row (``data`` as stored), with its times already in ISO form."""
        e = Entity({"$id": eid, "$type": self.name})
        for name in self.fields:
            e[name] = data.get(name)
        e["created_at"] = created
        e["updated_at"] = updated
        e["version"] = version
        return e

    # write -----------------------------------------------------------------------------
    async def create(self, data: Mapping[str, Any] | None = None, /, *, coerce: bool = False, **fields: Any) -> Entity:
        return await self._mutate([self.verbs["create"]], None, {**(data or {}), **fields}, create=True, coerce=coerce)

    async def update(
        self,
        entity_id: str,
        data: Mapping[str, Any] | None = None,
        /,
        *,
        version: int | None = None,
        coerce: bool = False,
        **fields: Any,
    ) -> Entity:
        """Change fields. With ``version``, a stale version raises ``ConflictError``."""
        return await self._mutate(
            [self.verbs["update"]],
            entity_id,
            {**(data or {}), **fields},
            expected_version=version,
            coerce=coerce,
        )

    async def delete(self, entity_id: str, *, version: int | None = None) -> Entity:
        return await self._mutate([self.verbs["delete"]], entity_id, {}, delete=True, expected_version=version)

    async def perform(
        self,
        verb: str,
        entity_id: str,
        changes: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        coerce: bool = False,
    ) -> Entity:
        """Run a custom verb (``close``) on one entity, with optional field changes."""
        decl = self._verb(verb)
        if verb in BUILTIN_VERBS:
            raise ValidationError.single("verb", "builtin", f"use {self.name}.{verb}() for built-in verbs")
        return await self._mutate([decl], entity_id, dict(changes or {}), expected_version=version, coerce=coerce)

    def validate(self, data: Mapping[str, Any], *, partial: bool, coerce: bool = False) -> dict[str, Any]:
        """Check input fields against the schema; unknown fields and bad values are errors."""
        if not isinstance(data, Mapping):
            raise ValidationError.single("body", "type", f"{self.name} data must be an object")
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        fields = self.fields
        for raw, value in data.items():
            if raw in _META:
                continue
            f = fields.get(raw) or fields.get(camel_to_snake(raw))
            if f is None:
                errors.append(FieldError(raw, "unknown_field", f"{self.name} has no field {raw!r}"))
                continue
            if type(value) in f.unchanged and is_plain(value):
                out[f.name] = value  # already the stored form (the common case of a sync's records)
                continue
            clean, err = f.check(value, coerce=coerce)
            if err is not None:
                errors.append(err)
            else:
                out[f.name] = clean
        if not partial:
            for name, f in self.fields.items():
                if f.required and out.get(name) is None and self.defaults.get(name) is None:
                    errors.append(FieldError(name, "required", f"{name} is required"))
        if errors:
            raise ValidationError(
                f"invalid {self.name}: " + "; ".join(e.message for e in errors), errors, noun=self.name
            )
        return out

    def _check_defaults(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        return self.validate(defaults, partial=True) if defaults else {}

    def _complete(self, fields: dict[str, Any]) -> None:
        errors = [
            FieldError(n, "required", f"{n} is required")
            for n, f in self.fields.items()
            if f.required and fields.get(n) is None
        ]
        for n, f in self.fields.items():
            if fields.get(n) is not None:
                _, err = f.check(fields[n])
                if err is not None:
                    errors.append(err)
        unknown = [k for k in fields if k not in self.fields]
        errors += [FieldError(k, "unknown_field", f"{self.name} has no field {k!r}") for k in unknown]
        if errors:
            raise ValidationError(
                f"invalid {self.name}: " + "; ".join(e.message for e in errors), errors, noun=self.name
            )

    async def _mutate(
        self,
        verbs: list[VerbDecl],
        entity_id: str | None,
        changes: Mapping[str, Any],
        *,
        create: bool = False,
        delete: bool = False,
        expected_version: int | None = None,
        coerce: bool = False,
        in_tx: Sequence[InTx] = (),
        preset_id: str | None = None,
        run_before: bool = True,
    ) -> Entity:
        hub = await current_hub()
        await hub.ensure_noun(self)
        source = current_source()
        clean = self.validate(changes, partial=not create, coerce=coerce)
        tries = 3 if expected_version is None and not create else 1
        for attempt in range(tries):
            current = None if create else await self._load(hub, entity_id)  # type: ignore[arg-type]
            if current is not None and expected_version is not None and current.version != expected_version:
                raise ConflictError(
                    f"{self.name} {current.id} is at version {current.version}, not {expected_version}",
                    code="version_conflict",
                    noun=self.name,
                    id=current.id,
                    version=current.version,
                )
            fields = (
                dict(current.fields()) if current is not None else {**{n: None for n in self.fields}, **self.defaults}
            )
            fields.update(clean)
            moved = set()
            for decl in verbs:
                move = self.verb_moves.get(decl.verb)
                if move is not None:
                    fields[move[0]] = move[1]
                    moved.add(move[0])
            self._check_states(current, fields, moved)
            eid = current.id if current is not None else (preset_id or new_id(self.name))
            now_iso = iso(hub.clock())
            proposed = Entity(
                {
                    "$id": eid,
                    "$type": self.name,
                    **fields,
                    "created_at": current["created_at"] if current else now_iso,
                    "updated_at": now_iso,
                    "version": (current.version + 1) if current else 1,
                }
            )
            ctx = Context(hub)
            for decl in verbs if run_before else ():
                for hook in self._before[decl.verb]:
                    await self._run_before(hook, proposed, ctx, decl)
            final = {n: proposed.get(n) for n in self.fields}
            extra = {k: v for k, v in proposed.items() if k not in self.fields and k not in META and k != "$type"}
            self._complete({**final, **extra})
            self._check_states(current, final, moved)
            call = VerbCall(self, verbs[0].verb, eid, current, proposed, dict(clean), hub, source)
            if not delete or self.writers:
                for writer in self.writers:
                    await writer(call)
                final = {n: proposed.get(n) for n in self.fields}
            try:
                entity, appended = await self._commit(
                    hub, verbs, current, eid, final, create, delete, source, [*in_tx, *call.in_tx]
                )
            except ConflictError as exc:
                if exc.code == "version_conflict" and attempt + 1 < tries and not self.writers:
                    continue
                raise
            await self._after_commit(hub, verbs, entity, appended)
            return entity
        raise AssertionError("unreachable")  # pragma: no cover

    async def run_before_hooks(self, verb: str, entity: Entity) -> None:
        """Run a verb's before-hooks on ``entity`` now (for verbs whose work starts before they commit)."""
        decl = self._verb(verb)
        ctx = Context(await current_hub())
        for hook in self._before[verb]:
            await self._run_before(hook, entity, ctx, decl)

    async def _run_before(self, hook: Hook, proposed: Entity, ctx: Context, decl: VerbDecl) -> None:
        try:
            await call_hook(hook, proposed, ctx)
        except HubwireError:
            raise
        except Exception as exc:
            raise VetoError(
                str(exc) or f"{self.name}.{decl.before} refused",
                noun=self.name,
                verb=decl.verb,
                id=proposed.id,
                hook=getattr(hook, "__name__", None),
            ) from exc

    def _check_states(self, current: Entity | None, fields: Mapping[str, Any], moved: set[str]) -> None:
        for fname, machine in self.machines.items():
            src = current.get(fname) if current is not None else None
            dst = fields.get(fname)
            if dst is None or (src == dst and fname not in moved):
                continue
            machine.check(self.name, current.id if current else None, src, dst)

    async def _commit(
        self,
        hub: Hub,
        verbs: list[VerbDecl],
        current: Entity | None,
        eid: str,
        final: dict[str, Any],
        create: bool,
        delete: bool,
        source: str,
        in_tx: Sequence[InTx],
    ) -> tuple[Entity, list[event_log.EventRecord]]:
        now = hub.clock()
        stored = {k: v for k, v in final.items() if v is not None}
        try:
            async with hub.transaction() as tx:
                if create:
                    await tx.conn.execute(
                        entities.insert().values(
                            id=eid, type=self.name, data=stored, version=1, created_at=now, updated_at=now
                        )
                    )
                    entity = self._entity(_Row(eid, stored, 1, now, now))
                else:
                    assert current is not None
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
                        raise ConflictError(
                            f"{self.name} {eid} changed while this verb ran",
                            code="version_conflict",
                            noun=self.name,
                            id=eid,
                        )
                    created = _parse_iso(current["created_at"])
                    if delete:
                        entity = current
                    else:
                        entity = self._entity(_Row(eid, stored, current.version + 1, created, now))
                appended = [
                    await event_log.append(tx, f"{self.name}.{decl.event}", self.name, eid, dict(entity), source)
                    for decl in verbs
                ]
                for fn in in_tx:
                    await fn(tx, entity)
        except IntegrityError as exc:
            m = _UNIQUE_INDEX.search(str(exc.orig))
            fname = m.group(1) if m else "id"
            raise ConflictError(
                f"another {self.name} already has this {fname} ({stored.get(fname)!r})",
                code="unique_violation",
                noun=self.name,
                field=fname,
            ) from None
        return entity, appended

    async def _after_commit(
        self, hub: Hub, verbs: list[VerbDecl], entity: Entity, appended: list[event_log.EventRecord]
    ) -> None:
        for decl, event in zip(verbs, appended, strict=True):
            ctx = Context(hub, event)
            for hook in [*self._after[decl.verb], *subscribers(f"{self.name}.{decl.event}")]:
                try:
                    await call_hook(hook, entity, ctx)
                except Exception as exc:  # the change is committed; a hook failure must not hide that
                    log.error(
                        "hook.failed",
                        noun=self.name,
                        verb=decl.verb,
                        id=entity.id,
                        hook=getattr(hook, "__name__", repr(hook)),
                        error=str(exc),
                    )


@dataclass
class _Row:
    id: str
    data: dict[str, Any]
    version: int
    created_at: float
    updated_at: float


def _parse_iso(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
