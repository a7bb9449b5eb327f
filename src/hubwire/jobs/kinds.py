"""Job kinds: a name, a handler and a retry policy, registered at import time.

A handler is ``async def handler(job: Job, hub: Hub) -> None``. It may raise :class:`Retry`
to choose its own delay (a provider's ``Retry-After``), :class:`Dead` to stop retrying, or
anything else to be retried on the kind's backoff until ``max_attempts`` is spent.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubwire.errors import ConfigurationError

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["Backoff", "Dead", "Job", "JobKind", "Retry", "get_kind", "job_kind", "kinds"]


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
            raw = min(self.max, self.base * self.factor ** max(0, attempt - 1))
        if self.jitter:
            raw *= 1 + r.uniform(-self.jitter, self.jitter)
        return max(0.0, raw)


Handler = Callable[[Job, "Hub"], Awaitable[None]]


@dataclass
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float | None = 600.0


_kinds: dict[str, JobKind] = {}


def job_kind(
    name: str, *, max_attempts: int = 5, backoff: Backoff | None = None, timeout: float | None = 600.0
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the runner of jobs of kind ``name``."""

    def register(handler: Handler) -> Handler:
        _kinds[name] = JobKind(name, handler, max_attempts, backoff or Backoff(), timeout)
        return handler

    return register


def get_kind(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        raise ConfigurationError(f"no handler for job kind {name!r}: import the module that defines it") from None


def kinds() -> dict[str, JobKind]:
    return dict(_kinds)
