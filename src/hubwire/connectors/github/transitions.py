"""Issue state changes that arrive by sync, announced as the verbs they are.

A sync applies a remote close as an update (``Issue.Updated``); the seed wants issue closes to
"flow back" as ``Issue.completed`` hooks. :func:`verb_for` says which Issue verb a status move is;
:mod:`hubwire.sync.transitions` reads the statuses before a page and announces the moves after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubwire.domains.projects import Issue
from hubwire.hub import Hub
from hubwire.sync import transitions
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
    return await transitions.statuses_before(hub, integration_id, "issue", items)


async def announce(hub: Hub, items: Sequence[Incoming], before: dict[str, tuple[str, str]], source: str) -> int:
    """Emit the verb events of the status moves the page made; return how many."""
    return await transitions.announce(hub, Issue, items, before, source, verb_for)
