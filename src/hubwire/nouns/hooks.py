"""Hooks: before-hooks (may veto), after-hooks, and ``hubwire.on`` event subscriptions.

After-hooks and subscribers run in the process that ran the verb, once its transaction has
committed; they see the committed entity. A failing after-hook is logged and never undoes the
committed change. Work that must survive a crash belongs in a job (webhooks, syncs).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from hubwire import declarations

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity
    from hubwire.store.events import EventRecord

__all__ = ["Context", "Hook", "Subscription", "VerbHooks", "call_hook", "on", "subscribers"]

log = structlog.get_logger("hubwire.hooks")
Hook = Callable[..., Any]


class Context:
    """The ``$`` of the seed: every Noun by name (``ctx.Event.create(...)``), the hub, the event."""

    def __init__(self, hub: Hub, event: EventRecord | None = None) -> None:
        self.hub = hub
        self.event = event

    def __getattr__(self, name: str) -> Any:
        noun = declarations.nouns.get(name)
        if noun is None:
            raise AttributeError(f"no Noun named {name!r}")
        return noun


async def call_hook(fn: Hook, entity: Entity, ctx: Context) -> Any:
    try:
        n = len(
            [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        )
    except (TypeError, ValueError):
        n = 2
    result = fn(entity, ctx) if n >= 2 else fn(entity)
    if inspect.isawaitable(result):
        result = await result
    return result


@dataclass
class VerbHooks:
    """A Noun's before- and after-hooks by verb, and its write-through writers (connectors)."""

    before: dict[str, list[Hook]] = field(default_factory=dict)
    after: dict[str, list[Hook]] = field(default_factory=dict)
    writers: list[Any] = field(default_factory=list)

    @classmethod
    def empty(cls, verbs: Iterable[str]) -> VerbHooks:
        return cls({v: [] for v in verbs}, {v: [] for v in verbs}, [])

    def copy(self) -> VerbHooks:
        return VerbHooks(
            {k: list(v) for k, v in self.before.items()},
            {k: list(v) for k, v in self.after.items()},
            list(self.writers),
        )


@dataclass(frozen=True)
class Subscription:
    pattern: str
    fn: Hook


def on(pattern: str) -> Callable[[Hook], Hook]:
    """Subscribe to events by name: ``"Deal.Closed"``, ``"Deal.*"`` or ``"*"``.

    The handler gets ``(entity, ctx)`` (or just the entity); ``ctx.event`` is the event.
    """

    def register(fn: Hook) -> Hook:
        declarations.subscriptions.append(Subscription(pattern, fn))
        return fn

    return register


def subscribers(event_type: str) -> list[Hook]:
    return [s.fn for s in declarations.subscriptions if fnmatch.fnmatchcase(event_type, s.pattern)]
