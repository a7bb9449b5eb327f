"""What a process declares once, at import time, for every Hub: the process-wide registries.

- ``nouns``: every declared Noun by name (with its hooks and write-through writers);
- ``subscriptions``: ``hubwire.on(pattern)`` handlers;
- ``job_kinds``: job handlers and their retry policies, by kind;
- ``extensions``: installers each new Hub runs (webhooks adds its event sink);
- ``event_types``: event types registered by code (``hubwire.events.register``); Noun events are
  derived from ``nouns`` and not kept here.

The modules that declare (``nouns.noun``, ``nouns.hooks``, ``jobs.kinds``, ``extensions``,
``events.registry``) fill
these; nothing else writes them. :func:`snapshot` and :func:`restore` save and put back all of
them at once, hooks included (the test suite isolates each test with them). This module imports
nothing of Hubwire's at run time, so that any module may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubwire.events.registry import EventType
    from hubwire.hub import Hub
    from hubwire.jobs.kinds import JobKind
    from hubwire.nouns.hooks import Subscription
    from hubwire.nouns.noun import Noun

__all__ = ["Snapshot", "event_types", "extensions", "job_kinds", "nouns", "restore", "snapshot", "subscriptions"]

nouns: dict[str, Noun] = {}
subscriptions: list[Subscription] = []
job_kinds: dict[str, JobKind] = {}
extensions: list[Callable[[Hub], None]] = []
event_types: dict[str, EventType] = {}


@dataclass(frozen=True)
class Snapshot:
    nouns: dict[str, Noun]
    hooks: dict[str, Any]
    subscriptions: list[Subscription]
    job_kinds: dict[str, JobKind]
    extensions: list[Callable[[Hub], None]]
    event_types: dict[str, EventType]


def snapshot() -> Snapshot:
    """Every registry as it is now (the Nouns' hooks and writers copied)."""
    return Snapshot(
        dict(nouns),
        {name: noun.hooks.copy() for name, noun in nouns.items()},
        list(subscriptions),
        dict(job_kinds),
        list(extensions),
        dict(event_types),
    )


def restore(saved: Snapshot) -> None:
    """Put every registry back as :func:`snapshot` saw it (a snapshot may be restored many times)."""
    nouns.clear()
    nouns.update(saved.nouns)
    for name, noun in nouns.items():
        noun.hooks = saved.hooks[name].copy()
    subscriptions[:] = saved.subscriptions
    job_kinds.clear()
    job_kinds.update(saved.job_kinds)
    extensions[:] = saved.extensions
    event_types.clear()
    event_types.update(saved.event_types)
