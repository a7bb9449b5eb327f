"""Noun: a typed entity kind with verbs, hooks, events and an optional state machine.

Every verb goes through the one pipeline of :mod:`hubwire.nouns.verbs` (propose, before-hooks,
settle, write with its events and jobs in one transaction, after-hooks); it writes nothing
unless it reaches the write. A Noun holds the declaration (fields, verbs, states, defaults),
its hooks (``noun.hooks``) and write-through writers, and the reads (``get``, ``find``, ``count``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from hubwire import declarations
from hubwire.errors import FieldError, NotFoundError, ValidationError
from hubwire.hub import Hub, current_hub
from hubwire.nouns import filters, verbs
from hubwire.nouns.entity import META, Entity, Page
from hubwire.nouns.hooks import Hook, VerbHooks
from hubwire.nouns.schema import BUILTIN_VERBS, Field, VerbDecl, camel_to_snake, conjugate, parse_schema
from hubwire.nouns.states import StateMachine
from hubwire.nouns.values import is_plain
from hubwire.nouns.verbs import Writer
from hubwire.store.events import iso
from hubwire.store.indexes import ensure_indexes
from hubwire.store.tables import entities

__all__ = ["Noun"]

_META = frozenset(META)


def _plural(name: str) -> str:
    n = name.lower()
    if n.endswith("y") and n[-2:-1] not in "aeiou":
        return n[:-1] + "ies"
    if n.endswith(("s", "x", "ch", "sh")):
        return n + "es"
    return n + "s"


class _IndexedNouns(set[str]):
    """A hub's Nouns whose indexes exist (made on a Noun's first use by that hub)."""


class Noun:
    """A typed entity kind. ``Deal = Noun("Deal", {"name": "string!", "close": "Closed"})``.

    ``events`` declares event-only verbs: ``events={"error": "Errored"}`` gives the hooks
    ``erroring``/``errored`` and the event ``Integration.Errored``, run by the Noun's own verbs
    (through :func:`hubwire.nouns.verbs.run`), never called on their own over REST or the CLI.
    """

    registry: dict[str, Noun] = declarations.nouns  # every declared Noun by name (process-wide)

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
        events: Mapping[str, str] | None = None,
        description: str = "",
    ) -> None:
        parsed = parse_schema(name, dict(schema))
        self.name = name
        self.plural = plural or _plural(name)
        self.description = description
        self.fields: dict[str, Field] = parsed.fields
        self.verbs: dict[str, VerbDecl] = {**BUILTIN_VERBS, **parsed.verbs}
        for verb, event in (events or {}).items():
            if verb in self.verbs:
                raise ValidationError.single("events", "verb", f"{name}.{verb} is already a verb")
            self.verbs[verb] = conjugate(verb, event)
        # Event-only verbs: hooks and an event, but no verb of their own for callers.
        self.internal_verbs = frozenset(events or ())
        self.defaults = self._check_defaults(defaults or {})
        # The fields of a new entity before its input: every field unset but those with a default.
        self.blank: dict[str, Any] = {**dict.fromkeys(self.fields), **self.defaults}
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
        self.hook_names: dict[str, tuple[str, str]] = {}
        for verb, decl in self.verbs.items():
            self.hook_names[decl.before] = ("before", verb)
            self.hook_names[decl.after] = ("after", verb)
        self.hooks = VerbHooks.empty(self.verbs)
        # Other vocabularies this Noun's input may be written in, by their ``$type`` (see ``accept_type``).
        self.input_types: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}
        declarations.nouns[name] = self

    def __repr__(self) -> str:
        return f"Noun({self.name!r})"

    # hooks ---------------------------------------------------------------------------
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        hook = self.__dict__.get("hook_names", {}).get(attr)
        if hook is not None:
            when, verb = hook

            def register(fn: Hook) -> Hook:
                return self.before(verb, fn) if when == "before" else self.after(verb, fn)

            return register
        verbs_ = self.__dict__.get("verbs", {})
        if attr in verbs_ and attr not in BUILTIN_VERBS and attr not in self.__dict__.get("internal_verbs", ()):

            async def perform(
                entity_id: str | Mapping[str, Any], data: Mapping[str, Any] | None = None, /, **changes: Any
            ) -> Entity:
                return await self.perform(attr, entity_id, {**(data or {}), **changes})

            perform.__name__ = attr
            return perform
        raise AttributeError(f"{self.__dict__.get('name', 'Noun')} has no verb or hook {attr!r}")

    def before(self, verb: str, fn: Hook) -> Hook:
        self._verb(verb)
        self.hooks.before[verb].append(fn)
        return fn

    def after(self, verb: str, fn: Hook) -> Hook:
        self._verb(verb)
        self.hooks.after[verb].append(fn)
        return fn

    @property
    def writers(self) -> list[Writer]:
        return self.hooks.writers

    def accept_type(self, type_name: str, translate: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        """Accept input written as ``{"$type": type_name, ...}`` (a Schema.org ``Person`` for a
        Contact): ``translate`` turns it into this Noun's fields before validation, on create and update."""
        self.input_types[type_name] = translate

    def add_writer(self, writer: Writer) -> Writer:
        """Register a write-through writer (a connector that owns this Noun)."""
        self.hooks.writers.append(writer)
        return writer

    def own_verb(self, verb: str) -> Callable[..., Any] | None:
        """The method a Noun subclass implements a verb with in Python (``Integration.connect``), bound; else None.

        Such a method is the verb: REST and MCP call it rather than the generic ``perform``.
        """
        owner = next((c for c in type(self).__mro__ if c is not Noun and verb in c.__dict__), None)
        return None if owner is None else getattr(self, verb)

    def _verb(self, verb: str) -> VerbDecl:
        decl = self.verbs.get(verb)
        if decl is None:
            raise ValidationError.single("verb", "unknown_verb", f"{self.name} has no verb {verb!r}")
        return decl

    def target(
        self, entity: str | Mapping[str, Any], changes: Mapping[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The id and the changes of a verb's call, in either of the seed's forms.

        ``Deal.close(id, {...})`` and ``Deal.close({"id": id, ...})`` (``$id`` too) mean the same.
        """
        rest = dict(changes or {})
        if isinstance(entity, Mapping):
            found = {k: entity[k] for k in ("id", "$id") if entity.get(k) is not None}
            if len(set(found.values())) != 1:
                raise ValidationError.single("id", "required", f"a {self.name} verb needs the entity's id")
            entity_id = next(iter(found.values()))
            rest = {**{k: v for k, v in entity.items() if k not in ("id", "$id")}, **rest}
        else:
            entity_id = entity
        if not isinstance(entity_id, str) or not entity_id:
            raise ValidationError.single("id", "type", f"a {self.name} id must be a non-empty string")
        return entity_id, rest

    # read ------------------------------------------------------------------------------
    async def get(self, entity_id: str | Mapping[str, Any]) -> Entity:
        hub = await current_hub()
        return await self.load(hub, self.target(entity_id)[0])

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
        await self.ensure_indexes(hub)
        flt = {**(filter or {}), **equals}
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationError.single("limit", "range", "limit must be an integer from 1 to 1000")
        key = filters.sort_keys(self, sort, hub.dialect)
        # SQLite's planner, without statistics, would rather read the (type, ...) indexes: a page sorted by
        # an indexed field then sorts every row of the Noun, and a filter on an indexed field reads rows
        # in creation order until the page is full (all of them, when few match). Told the type term
        # selects most rows, it reads the indexed field's own index instead.
        named = {camel_to_snake(k) for k in flt if isinstance(k, str)} | {key.name}
        by_index = any(f.indexed for k in named if (f := self.fields.get(k)) is not None)
        where = filters.compile_filter(self, flt, hub.dialect, coerce=coerce, likely_type=by_index)
        if cursor:
            value, last_id = filters.decode_cursor(cursor, key.kind)
            where = sa.and_(where, filters.after_cursor(key, value, last_id))
        if key.name in ("created_at", "updated_at"):
            # Never null: no NULLS clause, which PostgreSQL would not match to the (type, created_at, id)
            # index (ascending there puts nulls last) and would answer by sorting the Noun's every row.
            order = [key.expr.desc(), entities.c.id.desc()] if key.descending else [key.expr, entities.c.id]
        else:
            order = (
                [key.expr.desc().nulls_last(), entities.c.id.desc()]
                if key.descending
                else [key.expr.asc().nulls_first(), entities.c.id.asc()]
            )
        q = sa.select(entities).where(where).order_by(*order).limit(limit + 1)
        async with hub.read() as conn:
            rows = (await conn.execute(q)).all()
        items = [self.from_row(r) for r in rows[:limit]]
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

    async def load(self, hub: Hub, entity_id: str) -> Entity:
        """The stored entity ``entity_id`` of ``hub`` (``NotFoundError`` if it has none of this Noun)."""
        if not isinstance(entity_id, str) or not entity_id:
            raise ValidationError.single("id", "type", f"a {self.name} id must be a non-empty string")
        async with hub.read() as conn:
            row = (
                await conn.execute(sa.select(entities).where(entities.c.id == entity_id, entities.c.type == self.name))
            ).first()
        if row is None:
            raise NotFoundError(f"{self.name} {entity_id} not found", noun=self.name, id=entity_id)
        return self.from_row(row)

    def from_row(self, row: Any) -> Entity:
        """The entity of a row of the entities table."""
        return self.entity_of(row.id, row.data, row.version, iso(row.created_at), iso(row.updated_at))

    def entity_of(self, eid: str, data: Mapping[str, Any], version: int, created: str, updated: str) -> Entity:
        """The entity of a stored row (``data`` as stored), with its times already in ISO form."""
        e = Entity({"$id": eid, "$type": self.name})
        for name in self.fields:
            e[name] = data.get(name)
        e["created_at"] = created
        e["updated_at"] = updated
        e["version"] = version
        return e

    async def ensure_indexes(self, hub: Hub) -> None:
        """Make this Noun's ``#``/``##`` indexes in ``hub``'s database, once per hub (on first use)."""
        made = hub.service(_IndexedNouns)
        if self.name in made:
            return
        indexed = [(f.name, f.sortable_kind, f.unique) for f in self.fields.values() if f.indexed]
        if indexed:
            async with hub.transaction() as tx:
                await ensure_indexes(tx.conn, self.name, indexed)
        made.add(self.name)

    # write -----------------------------------------------------------------------------
    async def create(self, data: Mapping[str, Any] | None = None, /, *, coerce: bool = False, **fields: Any) -> Entity:
        return await verbs.run(self, ["create"], None, {**(data or {}), **fields}, coerce=coerce)

    async def update(
        self,
        entity_id: str | Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        /,
        *,
        version: int | None = None,
        coerce: bool = False,
        **fields: Any,
    ) -> Entity:
        """Change fields. With ``version``, a stale version raises ``ConflictError``."""
        eid, changes = self.target(entity_id, {**(data or {}), **fields})
        return await verbs.run(self, ["update"], eid, changes, expected_version=version, coerce=coerce)

    async def delete(self, entity_id: str | Mapping[str, Any], *, version: int | None = None) -> Entity:
        eid, _ = self.target(entity_id)
        return await verbs.run(self, ["delete"], eid, {}, delete=True, expected_version=version)

    async def perform(
        self,
        verb: str,
        entity_id: str | Mapping[str, Any],
        changes: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        coerce: bool = False,
    ) -> Entity:
        """Run a custom verb (``close``) on one entity, with optional field changes."""
        self._verb(verb)
        if verb in BUILTIN_VERBS or verb in self.internal_verbs:
            raise ValidationError.single("verb", "builtin", f"{self.name}.{verb} cannot be called on its own")
        eid, rest = self.target(entity_id, changes)
        return await verbs.run(self, [verb], eid, rest, expected_version=version, coerce=coerce)

    def validate(self, data: Mapping[str, Any], *, partial: bool, coerce: bool = False) -> dict[str, Any]:
        """Check input fields against the schema; unknown fields and bad values are errors."""
        if not isinstance(data, Mapping):
            raise ValidationError.single("body", "type", f"{self.name} data must be an object")
        typed = data.get("$type")
        if isinstance(typed, str) and typed in self.input_types:
            data = self.input_types[typed](data)
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
            raise verbs.invalid(self.name, errors)
        return out

    def _check_defaults(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        return self.validate(defaults, partial=True) if defaults else {}
