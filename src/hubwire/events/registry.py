"""The event registry: every event Hubwire can emit, with its payload schema and an example.

Two kinds of entries, looked up together:

- **Noun events**, derived from the declared Nouns at every lookup (never stored): each Noun's
  ``Created``/``Updated``/``Deleted``, its custom verbs' events (``Deal.Closed``) and its
  event-only verbs' (``Integration.Errored``). A Noun declared later is there at the next
  lookup, without a registration call. Their schema is derived from the Noun's fields.
- **Registered events**: what code declares with :func:`register` (``Order.Shipped``), and
  Hubwire's own events that are not a Noun's: ``webhook.test`` (registered by the webhooks
  package). A capability that emits events of its own registers them when it is imported; the
  conflict capability registers ``Conflict.*`` so (category ``Conflict``), when the built-ins load.

Subscriptions are checked against it (:func:`unknown`): an exact name, ``Prefix.*`` or ``*`` that
selects no event is refused with the nearest names. Process-wide, like the Noun registry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from hubwire import declarations
from hubwire.errors import FieldError, NotFoundError, ValidationError
from hubwire.events.schemas import Payload, example_of, noun_example, noun_schema
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import BUILTIN_VERBS

__all__ = [
    "EventType",
    "event_type",
    "event_types",
    "matches",
    "names",
    "nearest",
    "register",
    "unknown",
]

# ``Order.Shipped``, ``webhook.test``, ``incident.created``: dotted words, the first one the subject.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z][A-Za-z0-9_]*)+$")
_MAX_NAME = 128  # the event log's type column
_CUTOFF = 0.6  # difflib's default: below it a name is not a suggestion
_MARGIN = 0.1  # suggestions within this of the best one


@dataclass(frozen=True)
class EventType:
    """One entry of the catalogue. ``payload`` checks what :func:`hubwire.events.emit` is given."""

    name: str
    display_name: str
    description: str
    category: str
    schema: dict[str, Any]
    example: Any
    noun: str | None = None  # the Noun whose verbs emit it (None: registered by code)
    payload: Payload | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "category": self.category,
            "source": "noun" if self.noun else "registered",
            "noun": self.noun,
            "schema": self.schema,
            "example": self.example,
        }


_registered = declarations.event_types  # by name; the test suite's snapshot covers it


def _words(name: str) -> str:
    """``Order.Shipped`` -> ``Order Shipped``; ``webhook.test`` -> ``Webhook test``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace(".", " ").replace("_", " "))
    return text[:1].upper() + text[1:]


def register(
    name: str,
    *,
    schema: type[pydantic.BaseModel] | Mapping[str, Any] | None = None,
    display_name: str | None = None,
    description: str = "",
    category: str | None = None,
    example: Any = None,
) -> EventType:
    """Declare an event that code emits (``hubwire.events.emit``) and endpoints may subscribe to.

    ``schema`` is a pydantic model or a JSON Schema dict (checked now); payloads are validated
    against it. ``category`` defaults to the name's first word, ``display_name`` to its words; an
    ``example`` is checked against the schema, and made from the schema when not given.
    Registering a name again replaces it; a name a Noun's verbs emit is refused (its schema comes
    from the Noun).
    """
    if not isinstance(name, str) or len(name) > _MAX_NAME or not _NAME.match(name):
        raise ValidationError.single(
            "name",
            "invalid",
            f"event name {name!r} must be dotted words like 'Order.Shipped' (at most {_MAX_NAME} characters)",
        )
    owner = _noun_events().get(name)
    if owner is not None:
        raise ValidationError.single(
            "name", "noun_event", f"{name} is emitted by the {owner.noun} Noun; its schema is derived from the Noun"
        )
    payload = Payload.of(name, schema)
    if example is None:
        candidate = example_of(payload.schema)
        try:
            payload.validate(name, candidate)
            example = candidate
        except ValidationError:
            example = None  # the schema is too particular for a made-up value: no example rather than a wrong one
    else:
        try:
            payload.validate(name, example)
        except ValidationError as exc:
            raise ValidationError(
                f"the example of {name} does not match its schema: {exc.message}", exc.errors, event=name
            ) from None
    entry = EventType(
        name=name,
        display_name=display_name or _words(name),
        description=description,
        category=category or name.split(".", 1)[0],
        schema=payload.schema,
        example=example,
        payload=payload,
    )
    _registered[name] = entry
    return entry


def _noun_events() -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for noun in list(Noun.registry.values()):
        internal = set(getattr(noun, "internal_verbs", ()))
        for verb, decl in noun.verbs.items():
            name = f"{noun.name}.{decl.event}"
            if name in out:
                continue  # two verbs emitting one event: one entry
            article = "an" if noun.name[0] in "AEIOU" else "a"
            if verb in BUILTIN_VERBS:
                what = f"when {article} {noun.name} is {decl.after}"
            elif verb in internal:
                what = f"by the {noun.name}'s own verbs (an event without a verb of its own)"
            else:
                what = f"by {noun.name}.{verb}()"
            out[name] = EventType(
                name=name,
                display_name=f"{noun.name} {decl.event}",
                description=f"Emitted {what}; data is the {noun.name}.",
                category=noun.name,
                schema=noun_schema(noun, decl.event),
                example=noun_example(noun, verb),
                noun=noun.name,
            )
    return out


def event_types(*, category: str | None = None, prefix: str | None = None) -> list[EventType]:
    """The catalogue, by name: Noun events as the Nouns are now, then what code registered.

    ``category`` matches regardless of case; ``prefix`` is the start of the name (``Deal.``).
    """
    found = {**_registered, **_noun_events()}
    wanted = category.casefold() if category else None
    return [
        found[n]
        for n in sorted(found)
        if (wanted is None or found[n].category.casefold() == wanted) and (not prefix or n.startswith(prefix))
    ]


def names() -> list[str]:
    """Every event name (cheaper than the catalogue: no schemas)."""
    out = set(_registered)
    for noun in list(Noun.registry.values()):
        out.update(f"{noun.name}.{d.event}" for d in noun.verbs.values())
    return sorted(out)


def event_type(name: str) -> EventType:
    """One entry, or NotFoundError (``unknown_event_type``) naming the nearest names."""
    hit = _noun_events().get(name) or _registered.get(name)
    if hit is None:
        close = nearest(name)
        raise NotFoundError(
            _unknown_message(name, close), code="unknown_event_type", event=name, suggestions=close or None
        )
    return hit


def matches(pattern: str, name: str) -> bool:
    """Whether a subscription pattern selects an event: the exact name, ``Prefix.*`` or ``*``."""
    return pattern == "*" or pattern == name or (pattern.endswith(".*") and name.startswith(pattern[:-1]))


def nearest(pattern: str, among: Iterable[str] | None = None, n: int = 3) -> list[str]:
    """The names (or ``Prefix.*`` patterns, for a pattern) closest to a misspelt one, best first.

    Only those nearly as close as the best: ``Deal.Closd`` suggests ``Deal.Closed``, not also
    every other ``.Closed`` and ``Deal.`` event that shares half its letters.
    """
    every = list(among) if among is not None else names()
    if pattern.endswith(".*"):
        every = sorted({name.split(".", 1)[0] + ".*" for name in every})
    scored = sorted(((difflib.SequenceMatcher(None, pattern, c).ratio(), c) for c in every), key=lambda x: -x[0])
    scored = [(r, c) for r, c in scored if r >= _CUTOFF]
    return [c for r, c in scored[:n] if r >= scored[0][0] - _MARGIN]


def _unknown_message(pattern: str, close: Sequence[str]) -> str:
    what = "no event matches" if "*" in pattern else "unknown event"
    if not close:
        return f"{what} {pattern!r} (see GET /v1/event-types or `hubwire events types`)"
    listed = close[0] if len(close) == 1 else ", ".join(close[:-1]) + " or " + close[-1]
    return f"{what} {pattern!r}; did you mean {listed}?"


def unknown(patterns: Sequence[str], field: str = "events") -> list[FieldError]:
    """A field error for each subscription pattern that selects no event, with the nearest names."""
    every = names()
    return [
        FieldError(field, "unknown_event", _unknown_message(p, nearest(p, every)))
        for p in patterns
        if not any(matches(p, name) for name in every)
    ]
