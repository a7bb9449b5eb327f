"""Dashboard sessions: an API key, entered once at sign-in, becomes an HttpOnly session cookie.

The cookie holds a random token; the database holds only its SHA-256 (a stolen table opens no
session), the API key the browser signed in with, the CSRF token its forms carry and an absolute
expiry (:data:`SESSION_SECONDS`). Every request re-reads the key: revoking it ends its sessions at
once, and a session can do exactly what its key's scope allows. Signing out deletes the row.
When the hub runs without authentication (loopback only), a session without a key is opened on
the first visit, so that forms still carry a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from hubwire.api.keys import ApiKey, verify_api_key
from hubwire.api.scopes import Scope, allows, required_scope
from hubwire.errors import AuthenticationError, InsufficientScopeError
from hubwire.hub import Hub
from hubwire.store.tables import api_keys, dashboard_sessions

__all__ = ["COOKIE", "SESSION_SECONDS", "Session", "close_session", "load_session", "open_session"]

COOKIE = "hubwire_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    id: str
    key: ApiKey | None  # None: the hub runs without authentication
    csrf: str
    expires_at: float

    @property
    def who(self) -> str:
        return self.key.name if self.key else "local"

    def may(self, method: str, rest_path: str) -> bool:
        """Whether the key's scope allows what the REST route ``method rest_path`` does."""
        return self.key is None or allows(self.key.scope, required_scope(method, rest_path))

    def require(self, method: str, rest_path: str) -> None:
        """Refuse (403) what the key's scope does not allow, as the REST route ``method rest_path`` would."""
        if not self.may(method, rest_path):
            assert self.key is not None
            needed = required_scope(method, rest_path)
            raise InsufficientScopeError(
                f"this needs a key with the {needed.value} scope; you signed in with a {self.key.scope.value} key",
                required_scope=needed.value,
                scope=self.key.scope.value,
            )

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(hub: Hub, api_key: str | None) -> tuple[str, Session]:
    """Check ``api_key`` (AuthenticationError if wrong) and open a session: (cookie token, session)."""
    key = await verify_api_key(hub, api_key) if hub.settings.auth_required else None
    if key is not None and key.scope is Scope.COLLECT:
        # A publishable key sits in web pages: it opens nothing but POST /v1/collect.
        raise AuthenticationError("a collect key cannot sign in to the dashboard; use a read, write or admin key")
    token = secrets.token_urlsafe(32)
    now = hub.clock()
    session = Session(_digest(token), key, secrets.token_urlsafe(32), now + SESSION_SECONDS)
    async with hub.transaction() as tx:
        # Expired sessions go when new ones come: the table stays the size of the live ones.
        await tx.conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.expires_at < now))
        await tx.conn.execute(
            dashboard_sessions.insert().values(
                id=session.id,
                api_key_id=key.id if key else None,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return token, session


async def load_session(hub: Hub, token: str | None) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, or its key revoked)."""
    if not token or len(token) > 128:
        return None
    s, k = dashboard_sessions.c, api_keys.c
    q = (
        sa.select(s.id, s.csrf, s.expires_at, s.api_key_id, *[c.label(f"k_{c.name}") for c in api_keys.c])
        .select_from(dashboard_sessions.outerjoin(api_keys, k.id == s.api_key_id))
        .where(s.id == _digest(token), s.expires_at > hub.clock())
    )
    async with hub.read() as conn:
        row = (await conn.execute(q)).first()
    if row is None:
        return None
    if row.api_key_id is None:
        return Session(row.id, None, row.csrf, row.expires_at) if not hub.settings.auth_required else None
    if row.k_id is None or row.k_revoked_at is not None:
        return None
    key = ApiKey(row.k_id, row.k_name, row.k_prefix, Scope(row.k_scope), row.k_created_at, row.k_last_used_at, None)
    return Session(row.id, key, row.csrf, row.expires_at)


async def close_session(hub: Hub, session: Session) -> None:
    async with hub.transaction() as tx:
        await tx.conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.id == session.id))
