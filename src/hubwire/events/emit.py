"""Emitting a registered event from code: validated, appended to the event log, fanned out.

``await hubwire.events.emit("Order.Shipped", {...})`` checks the payload against the event's
schema, appends it in a transaction (the caller's ``tx``, or one of its own) so that webhook
deliveries are committed with it exactly as for a Noun's events, then runs the ``hubwire.on``
subscribers of that name once it committed. Noun events are not emitted here: a Noun's verbs
emit them, with the entity they committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.errors import NotFoundError, ValidationError
from hubwire.events.registry import event_type
from hubwire.hub import current_hub
from hubwire.nouns import Context, Entity, current_source
from hubwire.nouns.hooks import call_hook, subscribers
from hubwire.store import events as event_log

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.events import EventRecord
    from hubwire.store.transaction import Tx

__all__ = ["emit"]

log = structlog.get_logger("hubwire.events")
_MAX_ID = 64  # the event log's entity_id column


async def emit(
    name: str,
    data: Mapping[str, Any] | None = None,
    /,
    *,
    entity_id: str | None = None,
    tx: Tx | None = None,
    **fields: Any,
) -> EventRecord:
    """Append the registered event ``name`` with ``data`` (and ``field=value`` keywords); returns the record.

    ``entity_id`` names what the event is about (``GET /v1/events?entity_id=``). With ``tx`` the
    event commits (or rolls back) with the caller's transaction and no subscriber runs here.
    Refused with a ValidationError: a name nobody registered (with the nearest names), a Noun's
    event, a payload that does not match the schema (naming the field).
    """
    try:
        kind = event_type(name)
    except NotFoundError as exc:
        raise ValidationError.single("name", "unknown_event", exc.message, event=name) from None
    if kind.payload is None:
        raise ValidationError.single(
            "name", "noun_event", f"{name} is emitted by the {kind.noun} Noun's verbs, not by emit()", event=name
        )
    if entity_id is not None and (not isinstance(entity_id, str) or not 0 < len(entity_id) <= _MAX_ID):
        raise ValidationError.single("entity_id", "type", f"entity_id must be a string of 1 to {_MAX_ID} characters")
    if data is not None and not isinstance(data, Mapping):
        raise ValidationError.single("data", "type", f"the payload of {name} must be a JSON object", event=name)
    clean = kind.payload.validate(name, {**(data or {}), **fields})
    subject = name.split(".", 1)[0]
    source = current_source()
    if tx is not None:
        return await event_log.append(tx, name, subject, entity_id or "", clean, source)
    hub = await current_hub()
    async with hub.transaction() as own:
        record = await event_log.append(own, name, subject, entity_id or "", clean, source)
    await _notify(hub, record)
    return record


async def _notify(hub: Hub, record: EventRecord) -> None:
    """The ``hubwire.on`` subscribers of the event, after its commit; a failing one is logged, never raised."""
    ctx = Context(hub, record)
    for fn in subscribers(record.type):
        try:
            await call_hook(fn, Entity(record.data), ctx)
        except Exception as exc:  # the event is committed; a subscriber's failure must not hide that
            log.error("subscriber.failed", event=record.type, hook=getattr(fn, "__name__", repr(fn)), error=str(exc))
