"""Status moves that arrive by sync, announced as the verbs they are.

A sync applies a remote status change as an update (``Issue.Updated``, ``Deal.Updated``), but the
seed wants a deal won in the CRM to fire ``Deal.won`` hooks, and an issue closed on GitHub to fire
``Issue.completed``. So, for a page of records, :func:`statuses_before` reads the local status of
each known record before the page is applied, and :func:`announce` (once the page is stored)
appends the verb's event (``Deal.Won``) for each record whose status moved, with the provider as
the source, and runs the verb's after-hooks and subscribers. It only announces what the sync
already wrote; it never changes an entity. Which verb a move is, is the connector's call
(``verb_for(old, new)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.nouns import verbs
from hubwire.nouns.noun import Noun
from hubwire.store import events as event_log
from hubwire.store.tables import entities
from hubwire.sync.state import load_refs
from hubwire.sync.upsert import Incoming

__all__ = ["VerbFor", "announce", "statuses_before"]

# (old status, new status) -> the verb that makes that move, or None for no move to announce.
VerbFor = Callable[[str | None, str | None], str | None]


async def statuses_before(
    hub: Hub, integration_id: str, resource: str, items: Sequence[Incoming], field: str = "status"
) -> dict[str, tuple[str, str]]:
    """``remote id -> (entity id, local value of field)`` for the records of a page already known locally."""
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
        if known is None:
            continue
        entity_id, old = known
        verb = verb_for(old, inc.fields.get(field))
        if verb is None:
            continue
        entity = await noun.get(entity_id)
        if entity[field] != inc.fields.get(field):
            continue  # the page did not apply it (a conflict the local side won)
        async with hub.transaction() as tx:
            event = await event_log.append(tx, verbs.event_type(noun, verb), noun.name, entity_id, dict(entity), source)
        await verbs.after(hub, noun, (verb,), entity, (event,))
        count += 1
    return count
