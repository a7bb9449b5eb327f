"""Job kinds: a name, a handler and a retry policy, registered at import time.

A handler is ``async def handler(job: Job, hub: Hub) -> Any``. It may raise :class:`Retry`
to choose its own delay (a provider's ``Retry-After``), :class:`Dead` to stop retrying, or
anything else to be retried on the kind's backoff until ``max_attempts`` is spent.

A kind with a ``finish`` writer lets its handlers return their bookkeeping instead of writing
it: the worker turns the values returned by a batch of finished jobs into statements with
``finish(hub, values)`` and runs them on the connection that marks those jobs done, ahead of
that completion (SQLite: in the same transaction; PostgreSQL: on the same autocommit connection,
just before, so each statement must be atomic on its own). A handler's own record then costs no
transaction of its own. If the worker dies before that write, the job runs again and returns
its value again (at least once, like the job); on PostgreSQL a failure between the writes and
the completion sends both again, so the writes may land twice.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubwire import declarations
from hubwire.errors import ConfigurationError

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.statements import Statement

__all__ = [
    "Backoff",
    "Dead",
    "Finisher",
    "Job",
    "JobKind",
    "Retry",
    "forgetting_kinds",
    "get_kind",
    "job_kind",
    "kinds",
]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including the current one
    max_attempts: int
    key: str | None = None


class Retry(Exception):
    """Run this job again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay:.1f}s")
        self.delay = delay
        self.reason = reason


class Dead(Exception):
    """Stop retrying: dead-letter the job now with this reason."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, or an explicit schedule of delays (seconds).

    ``schedule[i]`` is the wait after attempt ``i + 1``; past its end the last value repeats.
    """

    base: float = 1.0
    factor: float = 2.0
    max: float = 3600.0
    jitter: float = 0.2
    schedule: Sequence[float] = ()

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        r = rng or random
        if self.schedule:
            raw = self.schedule[min(attempt - 1, len(self.schedule) - 1)]
        else:
            try:
                raw = min(self.max, self.base * self.factor ** max(0, attempt - 1))
            except OverflowError:  # factor ** attempt past the largest float: long past the cap
                raw = self.max
        if self.jitter:
            raw *= 1 + r.uniform(-self.jitter, self.jitter)
        return max(0.0, raw)


Handler = Callable[[Job, "Hub"], Awaitable[Any]]
# (hub, the non-None values returned by a batch of finished handlers) -> statements for hub's dialect
Finisher = Callable[["Hub", list[Any]], Sequence["Statement"]]


@dataclass
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float | None = 600.0
    finish: Finisher | None = None
    # False: a job done is deleted at once instead of kept ``done`` (for the retention period), for
    # kinds whose history lives elsewhere (a webhook delivery has its delivery row and attempts log).
    keep_done: bool = True


def job_kind(
    name: str,
    *,
    max_attempts: int = 5,
    backoff: Backoff | None = None,
    timeout: float | None = 600.0,
    finish: Finisher | None = None,
    keep_done: bool = True,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the runner of jobs of kind ``name`` (``timeout`` None: the handler bounds itself)."""

    def register(handler: Handler) -> Handler:
        declarations.job_kinds[name] = JobKind(
            name, handler, max_attempts, backoff or Backoff(), timeout, finish, keep_done
        )
        return handler

    return register


def get_kind(name: str) -> JobKind:
    try:
        return declarations.job_kinds[name]
    except KeyError:
        raise ConfigurationError(f"no handler for job kind {name!r}: import the module that defines it") from None


def kinds() -> dict[str, JobKind]:
    return dict(declarations.job_kinds)


def forgetting_kinds() -> tuple[str, ...]:
    """The kinds whose done jobs are deleted at once (``keep_done=False``)."""
    return tuple(sorted(k.name for k in declarations.job_kinds.values() if not k.keep_done))
