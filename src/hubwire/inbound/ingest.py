"""Receiving a provider webhook: find the Integration, verify the signature, store it, count refusals.

:func:`receive` is the whole of ``POST /v1/hooks/{integration_id}`` but the HTTP: it answers with
a :class:`~hubwire.inbound.inbox.Stored` (the inbox row, maybe a duplicate's) or raises:

- ``NotFoundError`` (``no_hook_receiver``) for an id that is not an active Integration of a
  provider taking webhooks with a secret: the same answer whether the id exists or not, so that
  the route does not tell which ids exist;
- :class:`~hubwire.inbound.verifiers.SignatureError` when verification fails: nothing is stored,
  and the refusal is counted per integration and code (:func:`stats`).

What verification needs of an Integration (its provider, scheme and secrets) is cached per hub for
``TARGET_TTL`` seconds (:class:`Targets`), one database read per integration however many requests
arrive at once, so a flood of badly signed requests costs HMACs, not vault reads. A refusal reads
the Integration again first when its entry is older than ``TARGET_RECHECK`` (a secret rotated, an
Integration connected a moment ago); a disconnected Integration's webhooks may still be stored for
up to ``TARGET_TTL`` (their apply then fails, and a replay after reconnecting applies them).

Never logs or returns a secret or a signature; refusals are counted, and logged (debug) with the
code only.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite

from hubwire import jsonfast
from hubwire.errors import NotFoundError
from hubwire.inbound.inbox import InboxWriter, Stored, stored_headers
from hubwire.inbound.received import webhook_secrets
from hubwire.inbound.registry import verifier_for
from hubwire.inbound.verifiers import SignatureError, Verifier, WebhookRequest
from hubwire.store.tables import inbound_counts
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.connectors.registry import Provider
    from hubwire.hub import Hub

__all__ = [
    "FLUSH_EVERY",
    "HOOK_PATH",
    "TARGET_RECHECK",
    "TARGET_TTL",
    "InboundStats",
    "Target",
    "Targets",
    "parse_payload",
    "receive",
    "stats",
]

log = structlog.get_logger("hubwire.inbound")

HOOK_PATH = "/v1/hooks/{integration_id}"
TARGET_TTL = 5.0  # seconds an Integration's provider and secrets are cached for verification
FLUSH_EVERY = 5.0  # seconds between writes of the receiver's counts
TARGET_RECHECK = 1.0  # seconds after which a refusal reads the Integration again before it stands
_MAX_TARGETS = 10_000  # cached integrations (known or not) per hub, least recently used first out
ACTIVE = ("Connected", "Synced")


@dataclass(frozen=True)
class Target:
    """What verifying and storing an Integration's webhooks takes."""

    integration_id: str
    provider: Provider
    verifier: Verifier
    secrets: tuple[str, ...]

    def __repr__(self) -> str:  # the secrets never show
        return f"Target({self.integration_id}, {self.provider.slug}, {self.verifier.scheme})"


class Targets:
    """The hub's cache of :class:`Target` by integration id (``None``: no receiver there).

    An entry serves for ``ttl`` seconds. A request it refuses (no receiver, or a signature no
    cached secret makes) is looked at again with an entry at most ``recheck`` seconds old, so a
    secret rotated or an Integration connected a moment ago is not refused for long, while a flood
    of refusals costs at most one read per integration per ``recheck``. Concurrent misses of one
    id share one read.
    """

    def __init__(self, hub: Hub, ttl: float = TARGET_TTL, recheck: float = TARGET_RECHECK) -> None:
        self.hub = hub
        self.ttl = ttl
        self.recheck = recheck
        self.loads = 0  # database reads made (the tests count them)
        self._cache: OrderedDict[str, tuple[float, Target | None]] = OrderedDict()  # id -> (read at, target)
        self._loading: dict[str, asyncio.Future[Target | None]] = {}

    def fresh(self, integration_id: str) -> bool:
        """Whether the cached entry is recent enough that reading it again would change nothing."""
        hit = self._cache.get(integration_id)
        return hit is not None and time.monotonic() - hit[0] < self.recheck

    async def get(self, integration_id: str, *, max_age: float | None = None) -> Target | None:
        """The target of ``integration_id``, read again when the cached one is older than ``max_age`` (``ttl``)."""
        hit = self._cache.get(integration_id)
        if hit is not None and time.monotonic() - hit[0] < (self.ttl if max_age is None else max_age):
            self._cache.move_to_end(integration_id)
            return hit[1]
        loading = self._loading.get(integration_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[Target | None] = asyncio.get_running_loop().create_future()
        self._loading[integration_id] = future
        try:
            read_at = time.monotonic()
            target = await self._load(integration_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._loading[integration_id]
        future.set_result(target)
        self._cache[integration_id] = (read_at, target)
        self._cache.move_to_end(integration_id)
        while len(self._cache) > _MAX_TARGETS:
            self._cache.popitem(last=False)
        return target

    def forget(self, integration_id: str | None = None) -> None:
        """Drop one cached integration (or all): the next request reads it again."""
        if integration_id is None:
            self._cache.clear()
        else:
            self._cache.pop(integration_id, None)

    async def _load(self, integration_id: str) -> Target | None:
        from hubwire.domains.platform import Integration

        self.loads += 1
        if not integration_id.startswith("integration_"):
            return None
        try:
            entity = await Integration.load(self.hub, integration_id)
        except NotFoundError:
            return None
        slug = str(entity.get("provider") or "")
        if entity.get("status") not in ACTIVE or slug not in self.hub.providers:
            return None
        provider = self.hub.providers.get(slug)
        if not provider.webhook_support or not provider.webhook_scheme:
            return None
        secrets = tuple(webhook_secrets(await load_credentials(self.hub, integration_id)))
        if not secrets:
            return None
        return Target(integration_id, provider, verifier_for(provider.webhook_scheme), secrets)


class InboundStats:
    """What the receiver answered, counted per (integration id, outcome): ``received``,
    ``duplicate``, or a refusal's code (``bad_signature``...). Requests to no receiver are counted
    under the integration id ``None`` (``no_hook_receiver``), so that random ids cannot grow it.

    Counted in memory and added to the ``inbound_counts`` table at most every ``FLUSH_EVERY``
    seconds (one write for any number of requests, in the background) and when the hub closes: a
    flood costs no write per request, and every process's counts add up in one place. A process
    killed loses at most its last seconds of counts.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pending: Counter[tuple[str | None, str]] = Counter()
        self._last_flush = time.monotonic()
        self._flushing: asyncio.Task[None] | None = None

    def add(self, integration_id: str | None, outcome: str) -> None:
        self.pending[integration_id, outcome] += 1
        due = time.monotonic() - self._last_flush >= FLUSH_EVERY
        if due and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.create_task(self._flush_logged(), name="hubwire-inbound-counts")

    async def flush(self) -> None:
        """Add the pending counts to the table now (they are kept for the next flush if it fails)."""
        if self._flushing is not None and not self._flushing.done():
            await asyncio.gather(self._flushing, return_exceptions=True)  # its counts first
        await self._write()

    async def _write(self) -> None:
        self._last_flush = time.monotonic()
        taken, self.pending = self.pending, Counter()
        if not taken:
            return
        now = self.hub.clock()
        rows = [
            {"integration_id": iid or "", "outcome": outcome, "count": n, "updated_at": now}
            for (iid, outcome), n in sorted(taken.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        ]
        c = inbound_counts.c
        insert = (postgresql.insert if self.hub.dialect == "postgresql" else sqlite.insert)(inbound_counts)
        stmt = insert.values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.integration_id, c.outcome],
            set_={"count": c["count"] + stmt.excluded["count"], "updated_at": stmt.excluded.updated_at},
        )
        try:
            async with self.hub.transaction() as tx:
                await tx.conn.execute(stmt)
        except BaseException:
            self.pending.update(taken)
            raise

    async def _flush_logged(self) -> None:
        try:
            await self._write()
        except Exception as exc:  # kept in memory: the next flush writes them
            log.warning("inbound.counts_flush_failed", error=type(exc).__name__)

    async def rows(self, integration_id: str | None = None) -> list[dict[str, Any]]:
        """The counts (this process's pending ones written first), of one integration or all."""
        await self.flush()
        c = inbound_counts.c
        q = sa.select(c.integration_id, c.outcome, c["count"].label("n")).order_by(c.integration_id, c.outcome)
        if integration_id is not None:
            q = q.where(c.integration_id == integration_id)
        async with self.hub.read() as conn:
            found = (await conn.execute(q)).all()
        return [{"integration_id": r.integration_id or None, "outcome": r.outcome, "count": int(r.n)} for r in found]

    async def close(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            log.warning("inbound.counts_flush_failed", error=type(exc).__name__)


async def stats(hub: Hub, integration_id: str | None = None) -> list[dict[str, Any]]:
    """How the receiver answered, per integration and outcome (see :class:`InboundStats`)."""
    return await hub.service(InboundStats, lambda: InboundStats(hub)).rows(integration_id)


def parse_payload(headers: Mapping[str, str], body: bytes) -> Any:
    """The body parsed for the provider: JSON, a form as a dict (one value per name, or a list when
    repeated), else the text (``None`` when it is not UTF-8)."""
    kind = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if kind.endswith("json") or text[:1] in ("{", "["):
        try:
            return jsonfast.loads(body)
        except ValueError:
            return text
    return text


async def _verified(
    targets: Targets, target: Target, request: WebhookRequest, clock: Callable[[], float]
) -> tuple[Target, str | None]:
    """The target whose secrets sign ``request`` and the event id; SignatureError if none does.

    A refusal by cached secrets is checked once more against the Integration as stored, when the
    cached entry is older than ``recheck`` and the secrets changed (a rotation a moment ago).
    """
    try:
        return target, target.verifier.verify(request, target.secrets, clock=clock)
    except SignatureError:
        if targets.fresh(target.integration_id):
            raise
        renewed = await targets.get(target.integration_id, max_age=targets.recheck)
        if renewed is None or renewed.secrets == target.secrets:
            raise
    return renewed, renewed.verifier.verify(request, renewed.secrets, clock=clock)


async def receive(hub: Hub, integration_id: str, request: WebhookRequest) -> Stored:
    """Verify ``request`` for ``integration_id`` and store it with its apply job (see the module docstring).

    ``request.url`` is the URL the provider called: ``HUBWIRE_PUBLIC_URL`` + path (+ query).
    """
    counter = hub.service(InboundStats, lambda: InboundStats(hub))
    targets = hub.service(Targets, lambda: Targets(hub))
    target = await targets.get(integration_id)
    if target is None and not targets.fresh(integration_id):
        target = await targets.get(integration_id, max_age=targets.recheck)
    if target is None:
        counter.add(None, "no_hook_receiver")
        raise NotFoundError(
            f"no webhook receiver at {HOOK_PATH.format(integration_id=integration_id)}", code="no_hook_receiver"
        )
    try:
        target, event_id = await _verified(targets, target, request, hub.clock)
    except SignatureError as exc:
        counter.add(integration_id, exc.code)
        # Debug only: a flood of forged requests must not become a flood of log lines (the counters say it).
        log.debug("inbound.refused", integration=integration_id, code=exc.code)
        raise
    headers = dict(request.headers)
    payload = parse_payload(headers, request.body)
    try:
        event_type = target.provider.webhook_event_type(headers, payload)
    except Exception as exc:  # a provider's naming must not lose a verified webhook
        log.warning("inbound.event_type_failed", integration=integration_id, error=type(exc).__name__)
        event_type = None
    signature_header = getattr(target.verifier, "header", None)
    stored = await hub.service(InboxWriter, lambda: InboxWriter(hub)).store(
        integration_id=integration_id,
        provider=target.provider.slug,
        event_id=event_id[:255] if event_id else None,
        event_type=event_type[:255] if event_type else None,
        headers=stored_headers(headers, [signature_header] if isinstance(signature_header, str) else ()),
        body=request.body,
    )
    counter.add(integration_id, "duplicate" if stored.duplicate else "received")
    return stored
