"""Webhook endpoints: the configuration of a ``webhook`` Integration, its event filters, and its cache.

An endpoint is an Integration with provider ``webhook``; its config holds the URL, the event
filters and the delivery policy, its credentials hold the signing secret(s). Fan-out reads the
active endpoints inside the event's transaction (never a cache: a new or removed endpoint is seen
by the very next event). Delivery reads an endpoint through :class:`EndpointCache`, which holds
an entry for at most ``ttl`` seconds and is cleared when this process commits a change to any
Integration; a change committed by another process is seen within ``ttl``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.errors import FieldError, NotFoundError, ValidationError
from hubwire.events.registry import matches as selects
from hubwire.jobs.kinds import Backoff
from hubwire.net.redact import secret_strings
from hubwire.store.tables import entities
from hubwire.vault.credentials import load_credentials_many
from hubwire.webhooks import destinations
from hubwire.webhooks.signing import live_secrets, secret_key

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from hubwire.hub import Hub

__all__ = [
    "ACTIVE",
    "DEFAULT_SCHEDULE",
    "PROVIDER",
    "Endpoint",
    "EndpointCache",
    "EndpointPolicy",
    "active_endpoints",
    "matches",
    "parse_policy",
]

PROVIDER = "webhook"
ACTIVE = ("Connected", "Synced")
# Waits after attempts 1..7 (Svix's schedule): 8 attempts over about 28 hours.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DEFAULT_TIMEOUT = 15.0
DEFAULT_DISABLE_AFTER = 5 * 24 * 3600.0
JITTER = 0.2


def matches(filters: Sequence[str], event_type: str) -> bool:
    """``Deal.Closed`` matches exactly, ``Deal.*`` every Deal event, ``*`` everything (the registry's rule)."""
    return any(selects(f, event_type) for f in filters)


@dataclass(frozen=True)
class EndpointPolicy:
    """How an endpoint is delivered to: limits, timeout, retry policy, disable window."""

    max_attempts: int = len(DEFAULT_SCHEDULE) + 1
    backoff: Backoff = field(default_factory=lambda: Backoff(schedule=DEFAULT_SCHEDULE, jitter=JITTER))
    timeout: float = DEFAULT_TIMEOUT
    rate_limit: float | None = None  # deliveries per second, per worker process
    concurrency: int | None = None  # deliveries in flight, per worker process
    disable_after: float = DEFAULT_DISABLE_AFTER


def _number(
    config: Mapping[str, Any], key: str, errors: list[FieldError], *, low: float, high: float, within: str = ""
) -> float | None:
    """``config[key]`` as a number in [low, high]; None when absent (the default applies), else a field error."""
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        name = f"{within}.{key}" if within else key
        errors.append(FieldError(name, "out_of_range", f"{name} must be a number in [{low:g}, {high:g}]"))
        return None
    return float(value)


def parse_policy(config: Mapping[str, Any]) -> EndpointPolicy:
    """The delivery policy in an endpoint's config; ValidationError listing every bad key.

    ``schedule``: waits in seconds after each attempt; or ``backoff``:
    ``{"type": "exponential"|"linear", "base": s, "factor": f, "max": s}``.
    """
    errors: list[FieldError] = []
    schedule = config.get("schedule")
    backoff_conf = config.get("backoff")
    backoff = EndpointPolicy().backoff
    if schedule is not None:
        if (
            not isinstance(schedule, list | tuple)
            or not schedule
            or not all(isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= 7 * 86400 for s in schedule)
        ):
            errors.append(FieldError("schedule", "invalid", "schedule must be a list of waits in seconds (0-7 days)"))
        else:
            backoff = Backoff(schedule=tuple(float(s) for s in schedule), jitter=JITTER)
    elif backoff_conf is not None:
        kind = backoff_conf.get("type", "exponential") if isinstance(backoff_conf, Mapping) else None
        if kind not in ("exponential", "linear"):
            errors.append(FieldError("backoff", "invalid", "backoff must be {type: exponential|linear, base, ...}"))
        else:
            assert isinstance(backoff_conf, Mapping)
            # Each a number in range, or the endpoint's retries would fail to compute later (or now, a 500).
            base = _number(backoff_conf, "base", errors, low=0, high=7 * 86400, within="backoff")
            cap = _number(backoff_conf, "max", errors, low=0, high=30 * 86400, within="backoff")
            factor = _number(backoff_conf, "factor", errors, low=1, high=100, within="backoff")
            base = 5.0 if base is None else base
            cap = 36000.0 if cap is None else cap
            if kind == "linear":
                steps = tuple(min(cap, base * (i + 1)) for i in range(64))
                backoff = Backoff(schedule=steps, jitter=JITTER)
            else:
                backoff = Backoff(base=base, factor=2.0 if factor is None else factor, max=cap, jitter=JITTER)
    attempts = _number(config, "max_attempts", errors, low=1, high=100)
    if attempts is None:
        attempts = len(backoff.schedule) + 1 if schedule is not None and backoff.schedule else 8
    timeout = _number(config, "timeout", errors, low=0.1, high=120)
    rate = _number(config, "rate_limit", errors, low=0.01, high=100000)
    conc = _number(config, "concurrency", errors, low=1, high=10000)
    disable_after = _number(config, "disable_after", errors, low=1, high=365 * 86400)
    if errors:
        raise ValidationError(
            "invalid webhook endpoint: " + "; ".join(e.message for e in errors), errors, provider=PROVIDER
        )
    return EndpointPolicy(
        max_attempts=int(attempts),
        backoff=backoff,
        timeout=timeout or DEFAULT_TIMEOUT,
        rate_limit=rate,
        concurrency=int(conc) if conc else None,
        disable_after=disable_after or DEFAULT_DISABLE_AFTER,
    )


@dataclass(frozen=True)
class Endpoint:
    """A loaded endpoint: what a delivery needs, secrets included (never serialise this)."""

    id: str
    url: str
    events: tuple[str, ...]
    headers: dict[str, str]
    status: str
    policy: EndpointPolicy
    keys: tuple[bytes, ...] = ()
    # Every secret string of its credentials (secrets, header values): masked in the responses kept.
    secrets: tuple[str, ...] = ()
    # ``webhook``, or a destination's provider (hubwire.webhooks.destinations), which reads its
    # config (template, channel...) and credentials (tokens) to send.
    provider: str = PROVIDER
    config: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, Any] = field(default_factory=dict)
    api_base_url: str | None = None  # the Integration's, for a destination's provider API

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _from_data(eid: str, data: Mapping[str, Any]) -> Endpoint:
    config = data.get("config") or {}
    return Endpoint(
        id=eid,
        url=str(config.get("url") or ""),
        events=tuple(config.get("events") or ()),
        headers={},  # custom headers are credentials: loaded with the secrets (EndpointCache)
        status=str(data.get("status")),
        policy=parse_policy(config),
        provider=str(data.get("provider") or PROVIDER),
        config=config,
        api_base_url=data.get("api_base_url") or None,
    )


def _webhook_rows() -> sa.Select[Any]:
    return sa.select(entities.c.id, entities.c.data).where(
        entities.c.type == "Integration", entities.c.data["provider"].as_string().in_(destinations.providers())
    )


async def active_endpoints(conn: AsyncConnection) -> list[Endpoint]:
    """Every active webhook endpoint, read in the caller's transaction (no secrets)."""
    q = _webhook_rows().where(entities.c.data["status"].as_string().in_(ACTIVE))
    return [_from_data(r.id, r.data) for r in (await conn.execute(q)).all()]


class EndpointCache:
    """Endpoints with their secrets, per hub and process, for at most ``ttl`` seconds.

    Loads are batched: the endpoints missed in the same loop iteration are read together (one
    query for their rows, one for their credentials), and entries that would expire within half
    the ttl are refreshed with them, so that a process delivering to many endpoints reloads them
    in a few reads per ttl instead of one or two connections per endpoint.
    """

    def __init__(self, hub: Hub, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Endpoint]] = {}
        self._loading: dict[str, asyncio.Future[Endpoint]] = {}  # every pending load, for dedupe
        self._queued: dict[str, asyncio.Future[Endpoint]] = {}  # not yet taken by a batch
        self._batch: asyncio.Future[None] | None = None

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()
        self._queued.clear()

    async def get(self, endpoint_id: str) -> Endpoint:
        hit = self._entries.get(endpoint_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        # One load per endpoint at a time: concurrent deliveries wait for it instead of all reading.
        loading = self._loading.get(endpoint_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[endpoint_id] = self._queued[endpoint_id] = loading
            if self._batch is None or self._batch.done():
                self._batch = asyncio.ensure_future(self._load_batch())
        return await asyncio.shield(loading)

    async def _load_batch(self) -> None:
        batch: dict[str, asyncio.Future[Endpoint]] = {}
        try:
            await asyncio.sleep(0)  # the misses of this loop iteration join the batch
            batch, self._queued = self._queued, {}
            self._batch = None
            now = self.clock()
            soon = [e for e, (until, _) in self._entries.items() if until - now < self.ttl / 2 and e not in batch]
            loaded = await self._load([*batch, *soon])
        except BaseException as exc:
            if not batch:  # stopped before taking the queue: its waiters fail too
                batch, self._queued = self._queued, {}
            for eid, fut in batch.items():
                self._settle(eid, fut, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for eid in soon:
            if not isinstance(loaded.get(eid), Endpoint):
                self._entries.pop(eid, None)  # gone or broken: the next get reads it again
        for eid, fut in batch.items():
            got = loaded.get(eid)
            self._settle(eid, fut, got or NotFoundError(f"no webhook endpoint {eid}", integration_id=eid))

    def _settle(self, eid: str, fut: asyncio.Future[Endpoint], result: Endpoint | BaseException) -> None:
        """Resolve one waiter's future (and forget it as pending)."""
        if self._loading.get(eid) is fut:
            del self._loading[eid]
        if fut.done():
            return
        if isinstance(result, asyncio.CancelledError):
            fut.cancel()
        elif isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)

    async def _load(self, endpoint_ids: Sequence[str]) -> dict[str, Endpoint | Exception]:
        now = self.clock()
        async with self.hub.read() as conn:
            rows = (await conn.execute(_webhook_rows().where(entities.c.id.in_(list(endpoint_ids))))).all()
        all_creds = await load_credentials_many(self.hub, [r.id for r in rows])
        wall = self.hub.clock()
        out: dict[str, Endpoint | Exception] = {}
        for row in rows:
            try:  # a broken endpoint (bad config or secret) fails its own deliveries, not the batch's
                ep = _from_data(row.id, row.data)
                creds = all_creds.get(row.id, {})
                if ep.provider != PROVIDER:  # a destination: it sends with its credentials, signs nothing
                    ep = replace(ep, credentials=creds, secrets=tuple(secret_strings(creds)))
                    self._entries[row.id] = (now + self.ttl, ep)
                    out[row.id] = ep
                    continue
                keys = tuple(secret_key(s) for s in live_secrets(creds, wall))
            except Exception as exc:
                out[row.id] = exc
                continue
            # A rotation's grace period ends inside the ttl: do not cache past it.
            until = min((float(p["until"]) for p in creds.get("previous") or ()), default=math.inf) - wall
            headers = {str(k): str(v) for k, v in (creds.get("headers") or {}).items()}
            ep = replace(ep, headers=headers, keys=keys, secrets=tuple(secret_strings(creds)))
            self._entries[row.id] = (now + max(0.0, min(self.ttl, until)), ep)
            out[row.id] = ep
        return out
