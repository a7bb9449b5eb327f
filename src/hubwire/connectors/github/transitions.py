"""Issue state changes that arrive by sync, announced as the verbs they are.

A sync applies a remote close as an update (``Issue.Updated``); the seed wants issue closes to
"flow back" as ``Issue.completed`` hooks. So, for a page of issues, :func:`statuses_before` reads
the local status of each known issue before the page is applied, and :func:`announce` (once
the sync's pages are stored) appends ``Issue.Completed`` / ``Issue.Closed`` / ``Issue.Reopened`` for those
whose status moved, with ``github`` as the source, and runs the verb's after-hooks and
subscribers. It only announces what the sync already wrote; it never changes an entity.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from hubwire.domains.projects import Issue
from hubwire.hub import Hub
from hubwire.nouns import verbs
from hubwire.nouns.noun import Noun
from hubwire.store import events as event_log
from hubwire.store.tables import entities
from hubwire.sync.state import load_refs
from hubwire.sync.upsert import Incoming

__all__ = ["announce", "statuses_before", "verb_for"]

_CLOSED = ("Completed", "Closed")


def verb_for(old: str | None, new: str | None) -> str | None:
    """The Issue verb that moves ``old`` to ``new`` (``None``: no move to announce)."""
    if old is None or new is None or old == new:
        return None
    if new == "Completed":
        return "complete"
    if new == "Closed":
        return "close"
    return "reopen" if old in _CLOSED else None


async def statuses_before(hub: Hub, integration_id: str, items: Sequence[Incoming]) -> dict[str, tuple[str, str]]:
    """``remote key -> (entity id, local status)`` for the issues of a page already known locally."""
    async with hub.read() as conn:
        refs = await load_refs(conn, integration_id, "issue", [i.remote_id for i in items])
        ids = [r.entity_id for r in refs.values()]
        rows = (await conn.execute(sa.select(entities.c.id, entities.c.data).where(entities.c.id.in_(ids)))).all()
    status: dict[str, str] = {r.id: str((r.data or {}).get("status") or "") for r in rows}
    return {rid: (ref.entity_id, status[ref.entity_id]) for rid, ref in refs.items() if status.get(ref.entity_id)}


async def announce(hub: Hub, items: Sequence[Incoming], before: dict[str, tuple[str, str]], source: str) -> int:
    """Emit the verb events of the status moves the page made; return how many."""
    noun: Noun = Issue
    count = 0
    for inc in items:
        known = before.get(inc.remote_id)
        if known is None:
            continue
        entity_id, old = known
        verb = verb_for(old, inc.fields.get("status"))
        if verb is None:
            continue
        entity = await noun.get(entity_id)
        if entity["status"] != inc.fields.get("status"):
            continue  # the page did not apply it (a conflict the local side won)
        async with hub.transaction() as tx:
            event = await event_log.append(tx, verbs.event_type(noun, verb), noun.name, entity_id, dict(entity), source)
        await verbs.after(hub, noun, (verb,), entity, (event,))
        count += 1
    return count
