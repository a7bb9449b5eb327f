"""A fresh access token for an OAuth Integration: :func:`access_token`, the one way requests get one.

A stored token is used until its ``refresh_at`` (its expiry less the provider's margin) or until
the provider refuses it (a 401: the caller passes the refused token as ``rejected``). A process
keeps the token it read last for up to ``CACHE_TTL`` seconds, so a request costs no database read.
Then exactly one refresh per connection runs at a time, across coroutines and processes:

1. coroutines of one process queue on an ``asyncio.Lock`` per Integration (the hub's
   :class:`RefreshLocks`): the first reads the credentials (and refreshes), the others find its
   result in the process's cache;
2. processes queue on the credentials row: ``SELECT ... FOR UPDATE`` on PostgreSQL, the database
   write lock on SQLite (``BEGIN IMMEDIATE``, which every Hubwire write transaction takes);
   holding it, the credentials are read again and a token another process stored is used as is.

The new tokens are written in the transaction that holds the lock, so a waiter reads them the
moment it gets the lock; a rotated refresh token replaces the old in that same write. A refused
grant (``invalid_grant``) marks the credentials ``reauth_required`` in that transaction (waiters
then fail at once, without spending another request), and the Integration gets
``error="reauth_required"`` and ``Integration.Errored``; its data stays. ``Integration.connect``
with a new authorization (same id) replaces the credentials and clears it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from hubwire.errors import HubwireError, ProviderAuthError, ValidationError
from hubwire.oauth import apps, client
from hubwire.store.tables import credentials as credentials_table
from hubwire.vault.credentials import load_credentials, save_credentials

if TYPE_CHECKING:
    from hubwire.connectors.registry import Provider
    from hubwire.hub import Hub

__all__ = ["REAUTH_REQUIRED", "RefreshLocks", "access_token", "issued", "refresh_count"]

log = structlog.get_logger("hubwire.oauth")
REAUTH_REQUIRED = "reauth_required"


# What a token response gives (client.credentials_from): replaced by a refresh, not merged.
_TOKEN_KEYS = frozenset({"access_token", "refresh_token", "expires_at", "refresh_at", "issued_at", REAUTH_REQUIRED})

# How long a process trusts the token it read last without reading the database again (a reconnect
# or a refresh elsewhere is seen within this; a 401 sees it at once).
CACHE_TTL = 30.0


class RefreshLocks:
    """One ``asyncio.Lock`` per Integration, per hub: the in-process half of the refresh lock; and
    the token each Integration had when last read, so that a request costs no database read."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self.tokens: dict[str, tuple[float, dict[str, Any]]] = {}  # id -> (read at, credentials)
        self.refreshes = 0  # refreshes this hub made (tests and the benchmark count them)

    def cached(self, integration_id: str, now: float) -> dict[str, Any]:
        held = self.tokens.get(integration_id)
        return held[1] if held is not None and now - held[0] < CACHE_TTL else {}

    def get(self, integration_id: str) -> asyncio.Lock:
        lock = self._locks.get(integration_id)
        if lock is None:
            lock = self._locks[integration_id] = asyncio.Lock()
        return lock


def refresh_count(hub: Hub) -> int:
    """How many token refreshes this hub has made (all Integrations)."""
    return hub.service(RefreshLocks).refreshes


def issued(creds: Mapping[str, Any]) -> bool:
    """Were these credentials handed out by a token endpoint (``issued_at``, which
    :func:`~hubwire.oauth.client.credentials_from` sets; a refresh token, an expiry), so that
    :func:`access_token` keeps them fresh? A token pasted in at connect (a HubSpot private app's, a
    Pipedrive API token) is not: it is sent as it is, and a 401 is the provider's refusal of it."""
    return "issued_at" in creds or any(creds.get(k) for k in ("refresh_token", "expires_at", REAUTH_REQUIRED))


def _usable(creds: Mapping[str, Any], now: float, rejected: str | None) -> str | None:
    token = creds.get("access_token")
    if not isinstance(token, str) or not token or creds.get(REAUTH_REQUIRED):
        return None
    if rejected is not None and token == rejected:
        return None
    refresh_at = creds.get("refresh_at")
    if isinstance(refresh_at, int | float) and now >= refresh_at:
        return None
    return token


async def access_token(
    hub: Hub, integration_id: str, *, rejected: str | None = None, provider: Provider | None = None
) -> str:
    """A usable access token of ``integration_id``, refreshed first if it is due or was ``rejected``.

    ``rejected`` is a token the provider just answered 401 to: a token other than it is returned
    as is (someone refreshed meanwhile); it itself is refreshed. Raises ``ProviderAuthError`` with
    code ``reauth_required`` when the provider refuses the refresh.
    """
    locks = hub.service(RefreshLocks)
    token = _usable(locks.cached(integration_id, hub.clock()), hub.clock(), rejected)
    if token is not None:
        return token
    async with locks.get(integration_id):
        # One coroutine per process reads (and maybe refreshes); the others find its result here.
        token = _usable(locks.cached(integration_id, hub.clock()), hub.clock(), rejected)
        if token is not None:
            return token
        creds = await load_credentials(hub, integration_id)
        token = _usable(creds, hub.clock(), rejected)
        if token is None:
            token = await _refresh(hub, integration_id, rejected, provider)
        else:
            locks.tokens[integration_id] = (hub.clock(), creds)
        return token


async def _refresh(hub: Hub, integration_id: str, rejected: str | None, provider: Provider | None) -> str:
    if provider is None:
        from hubwire.domains.platform import Integration  # the Noun's module imports this package

        provider = hub.providers.get((await Integration.get(integration_id))["provider"])
    app, spec = await apps.resolve(hub, provider)
    refused: HubwireError | None = None
    async with hub.transaction() as tx:
        # The cross-process half of the lock (see the module docstring); SQLite holds its write lock already.
        row = (
            await tx.conn.execute(
                sa.select(credentials_table.c.ciphertext)
                .where(credentials_table.c.integration_id == integration_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise ValidationError.single(
                "integration_id", "not_connected", f"{integration_id} has no credentials: connect it first"
            )
        creds = hub.vault.decrypt(bytes(row.ciphertext), context=integration_id)
        token = _usable(creds, hub.clock(), rejected)
        if token is not None:
            hub.service(RefreshLocks).tokens[integration_id] = (hub.clock(), creds)
            return token  # another process refreshed while this one waited
        if creds.get(REAUTH_REQUIRED):
            raise _reauth(provider.slug, integration_id)
        try:
            if spec.grant == "client_credentials" and not creds.get("refresh_token"):
                response = await client.client_credentials(hub, app, spec, spec.scopes)
            elif creds.get("refresh_token"):
                response = await client.refresh(hub, app, spec, str(creds["refresh_token"]))
            else:
                raise _reauth(provider.slug, integration_id, "the connection has no refresh token")
            hub.service(RefreshLocks).refreshes += 1
        except ProviderAuthError as exc:
            if exc.code != REAUTH_REQUIRED:
                raise
            refused = exc
            await save_credentials(tx, integration_id, {**creds, REAUTH_REQUIRED: True})
        else:
            issued_now = client.credentials_from(response, now=hub.clock(), margin=spec.refresh_margin, previous=creds)
            # The tokens and their times are replaced; what else is kept with them stays (Salesforce's
            # instance_url, a webhook registration's ids).
            fresh = {**{k: v for k, v in creds.items() if k not in _TOKEN_KEYS}, **issued_now}
            await save_credentials(tx, integration_id, fresh)
            tx.after_commit(lambda: _remember(hub, integration_id, fresh))
            log.info("oauth.refreshed", integration=integration_id, provider=provider.slug)
            return str(fresh["access_token"])
    await _mark_reauth(integration_id)
    refused.fields["integration_id"] = integration_id
    raise refused


def _remember(hub: Hub, integration_id: str, creds: dict[str, Any]) -> None:
    hub.service(RefreshLocks).tokens[integration_id] = (hub.clock(), creds)


def _reauth(provider: str, integration_id: str, why: str = "the provider refused the refresh") -> ProviderAuthError:
    return ProviderAuthError(
        f"{integration_id} needs to be authorized again ({why}): Integration.connect({integration_id!r}, "
        "code=..., state=...) after Integration.authorize(...)",
        code=REAUTH_REQUIRED,
        provider=provider,
        integration_id=integration_id,
    )


async def _mark_reauth(integration_id: str) -> None:
    from hubwire.domains.platform import Integration

    try:
        await Integration.fail(integration_id, REAUTH_REQUIRED)
    except HubwireError as exc:  # the refusal is the error to report, not the bookkeeping's
        log.error("oauth.mark_reauth_failed", integration=integration_id, error=str(exc))
