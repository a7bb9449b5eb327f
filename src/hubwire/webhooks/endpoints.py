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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.errors import FieldError, NotFoundError, ValidationError
from hubwire.jobs.kinds import Backoff
from hubwire.store.tables import entities
from hubwire.vault.credentials import load_credentials
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
    """``Deal.Closed`` matches exactly, ``Deal.*`` every Deal event, ``*`` everything."""
    return any(f == "*" or f == event_type or (f.endswith(".*") and event_type.startswith(f[:-1])) for f in filters)


@dataclass(frozen=True)
class EndpointPolicy:
    """How an endpoint is delivered to: limits, timeout, retry policy, disable window."""

    max_attempts: int = len(DEFAULT_SCHEDULE) + 1
    backoff: Backoff = field(default_factory=lambda: Backoff(schedule=DEFAULT_SCHEDULE, jitter=JITTER))
    timeout: float = DEFAULT_TIMEOUT
    rate_limit: float | None = None  # deliveries per second, per worker process
    concurrency: int | None = None  # deliveries in flight, per worker process
    disable_after: float = DEFAULT_DISABLE_AFTER


def _number(config: Mapping[str, Any], key: str, errors: list[FieldError], *, low: float, high: float) -> float | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        errors.append(FieldError(key, "out_of_range", f"{key} must be a number in [{low:g}, {high:g}]"))
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
            base = float(backoff_conf.get("base", 5.0))
            cap = float(backoff_conf.get("max", 36000.0))
            if kind == "linear":
                steps = tuple(min(cap, base * (i + 1)) for i in range(64))
                backoff = Backoff(schedule=steps, jitter=JITTER)
            else:
                backoff = Backoff(base=base, factor=float(backoff_conf.get("factor", 2.0)), max=cap, jitter=JITTER)
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
    )


def _webhook_rows() -> sa.Select[Any]:
    return sa.select(entities.c.id, entities.c.data).where(
        entities.c.type == "Integration", entities.c.data["provider"].as_string() == PROVIDER
    )


async def active_endpoints(conn: AsyncConnection) -> list[Endpoint]:
    """Every active webhook endpoint, read in the caller's transaction (no secrets)."""
    q = _webhook_rows().where(entities.c.data["status"].as_string().in_(ACTIVE))
    return [_from_data(r.id, r.data) for r in (await conn.execute(q)).all()]


class EndpointCache:
    """Endpoints with their secrets, per hub and process, for at most ``ttl`` seconds."""

    def __init__(self, hub: Hub, ttl: float = 1.0) -> None:
        self.hub = hub
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Endpoint]] = {}
        self._loading: dict[str, asyncio.Future[Endpoint]] = {}

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()

    async def get(self, endpoint_id: str) -> Endpoint:
        hit = self._entries.get(endpoint_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        # One load per endpoint at a time: concurrent deliveries wait for it instead of all reading.
        loading = self._loading.get(endpoint_id)
        if loading is None:
            loading = self._loading[endpoint_id] = asyncio.ensure_future(self._load(endpoint_id))
            loading.add_done_callback(
                lambda f: self._loading.pop(endpoint_id, None) if self._loading.get(endpoint_id) is f else None
            )
        return await asyncio.shield(loading)

    async def _load(self, endpoint_id: str) -> Endpoint:
        now = time.monotonic()
        async with self.hub.read() as conn:
            row = (await conn.execute(_webhook_rows().where(entities.c.id == endpoint_id))).first()
        if row is None:
            raise NotFoundError(f"no webhook endpoint {endpoint_id}", integration_id=endpoint_id)
        ep = _from_data(row.id, row.data)
        creds = await load_credentials(self.hub, endpoint_id)
        wall = self.hub.clock()
        keys = tuple(secret_key(s) for s in live_secrets(creds, wall))
        # A rotation's grace period ends inside the ttl: do not cache past it.
        until = min((float(p["until"]) for p in creds.get("previous") or ()), default=math.inf) - wall
        headers = {str(k): str(v) for k, v in (creds.get("headers") or {}).items()}
        ep = Endpoint(ep.id, ep.url, ep.events, headers, ep.status, ep.policy, keys)
        self._entries[endpoint_id] = (now + max(0.0, min(self.ttl, until)), ep)
        return ep
