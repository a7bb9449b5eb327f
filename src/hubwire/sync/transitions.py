"""Status moves that arrive from a provider, announced as the verbs they are.

A sync or a webhook applies a remote status change as an update (``Issue.Updated``,
``Subscription.Updated``); the seed wants such moves to "flow back" as the verb's hooks
(``Issue.completed``, ``Subscription.cancelled``). So, for the records of a page,
:func:`statuses_before` reads the local status of each known entity before the page is applied,
and :func:`announce`, once the page is stored, appends the verb's event (``Issue.Completed``,
``Subscription.Cancelled``) for those whose status moved, with the provider as the source, and
runs the verb's after-hooks and subscribers. A provider says which verb a move is (``verb_for``).
It only announces what was already written; it never changes an entity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.nouns import verbs
from hubwire.nouns.noun import Noun
from hubwire.store import events as event_log
from hubwire.store.tables import entities
from hubwire.sync.engine import Batch, Stream
from hubwire.sync.state import load_refs
from hubwire.sync.upsert import Incoming

__all__ = ["Moves", "VerbFor", "announce", "statuses_before", "watched"]

# (status before, status after) -> the verb that made the move, or None (nothing to announce).
VerbFor = Callable[[str | None, str | None], str | None]
# What a sync saw of a resource's records: (the records of a page, their statuses before it was applied).
Moves = list[tuple[list[Incoming], dict[str, tuple[str, str]]]]


def watched(hub: Hub, integration_id: str, stream: Stream, resource: str, moves: Moves) -> Stream:
    """``stream`` with the local statuses of ``resource``'s records read before each of its pages is
    applied, into ``moves``; :func:`announce` them once the whole pull is stored (not from inside the
    pages: the engine may fetch a page ahead of storing the last one)."""

    async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
        async for batch in stream.pages(state):
            if (batch.resource or stream.name) == resource and batch.items:
                moves.append((batch.items, await statuses_before(hub, integration_id, resource, batch.items)))
            yield batch

    return Stream(stream.name, stream.noun, pages)


async def statuses_before(
    hub: Hub, integration_id: str, resource: str, items: Sequence[Incoming], field: str = "status"
) -> dict[str, tuple[str, str]]:
    """``remote id -> (entity id, local status)`` for the records of a page already known locally."""
    async with hub.read() as conn:
        refs = await load_refs(conn, integration_id, resource, [i.remote_id for i in items])
        ids = [r.entity_id for r in refs.values()]
        if not ids:
            return {}
        rows = (await conn.execute(sa.select(entities.c.id, entities.c.data).where(entities.c.id.in_(ids)))).all()
    status: dict[str, str] = {r.id: str((r.data or {}).get(field) or "") for r in rows}
    return {rid: (ref.entity_id, status[ref.entity_id]) for rid, ref in refs.items() if status.get(ref.entity_id)}


async def announce(
    hub: Hub,
    noun: Noun,
    items: Sequence[Incoming],
    before: dict[str, tuple[str, str]],
    source: str,
    verb_for: VerbFor,
    field: str = "status",
) -> int:
    """Emit the verb events of the status moves the page made; return how many."""
    count = 0
    for inc in items:
        known = before.get(inc.remote_id)
        if known is None or inc.deleted:
            continue
        entity_id, old = known
        verb = verb_for(old, inc.fields.get(field))
        if verb is None:
            continue
        entity = await noun.get(entity_id)
        if entity[field] != inc.fields.get(field) or entity[field] == old:
            continue  # the page did not apply it (a conflict the local side won, an older record)
        async with hub.transaction() as tx:
            event = await event_log.append(tx, verbs.event_type(noun, verb), noun.name, entity_id, dict(entity), source)
        await verbs.after(hub, noun, (verb,), entity, (event,))
        count += 1
    return count
