"""Authorization states: random, single use, bound to provider, redirect URI and API key, 10 minutes.

A state is the only thing that ties a provider's redirect back to the request that started it, so
it is treated as a bearer secret: stored by its SHA-256, with the PKCE verifier encrypted beside
it, and deleted by the first :func:`consume` whatever the outcome. A state whose API key has been
revoked since is refused like an unknown one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from hubwire.errors import FieldError, ValidationError
from hubwire.store.tables import api_keys, oauth_states

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["STATE_TTL", "AuthorizationState", "consume", "create"]

STATE_TTL = 600.0


@dataclass(frozen=True)
class AuthorizationState:
    provider: str
    redirect_uri: str
    code_verifier: str | None = field(repr=False)
    scopes: tuple[str, ...] = ()
    return_to: str | None = None
    api_key_id: str | None = None
    integration_id: str | None = None


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def create(
    hub: Hub,
    *,
    provider: str,
    redirect_uri: str,
    code_verifier: str | None,
    scopes: Sequence[str] = (),
    return_to: str | None = None,
    api_key_id: str | None = None,
    integration_id: str | None = None,
) -> str:
    """A new state for one authorization request; expired states are swept on the way."""
    state = secrets.token_urlsafe(32)
    sid = _digest(state)
    now = hub.clock()
    async with hub.transaction() as tx:
        await tx.conn.execute(oauth_states.delete().where(oauth_states.c.expires_at <= now))
        await tx.conn.execute(
            oauth_states.insert().values(
                id=sid,
                provider=provider,
                redirect_uri=redirect_uri,
                return_to=return_to,
                api_key_id=api_key_id,
                integration_id=integration_id,
                scopes=list(scopes),
                ciphertext=hub.vault.encrypt({"code_verifier": code_verifier}, context=f"oauth_state:{sid}"),
                expires_at=now + STATE_TTL,
                created_at=now,
            )
        )
    return state


async def consume(hub: Hub, state: str | None) -> AuthorizationState:
    """The state's record, deleted in the same transaction (single use); ValidationError
    ``oauth_state_invalid`` for an unknown, used or expired state, or one whose API key was revoked."""
    if not isinstance(state, str) or not state:
        raise _invalid("state is required")
    sid = _digest(state)
    async with hub.transaction() as tx:
        row = (await tx.conn.execute(sa.select(oauth_states).where(oauth_states.c.id == sid))).first()
        deleted = (await tx.conn.execute(oauth_states.delete().where(oauth_states.c.id == sid))).rowcount
        revoked = False
        if row is not None and row.api_key_id is not None:
            key = (
                await tx.conn.execute(sa.select(api_keys.c.revoked_at).where(api_keys.c.id == row.api_key_id))
            ).first()
            revoked = key is None or key.revoked_at is not None
    # rowcount: of two concurrent callbacks with one state, only the one whose delete took the row goes on.
    if row is None or deleted != 1:
        raise _invalid("unknown or already used OAuth state")
    if row.expires_at <= hub.clock():
        raise _invalid("the OAuth state has expired (10 minutes): start the authorization again")
    if revoked:
        raise _invalid("the API key that started this authorization has been revoked")
    verifier = hub.vault.decrypt(bytes(row.ciphertext), context=f"oauth_state:{sid}").get("code_verifier")
    return AuthorizationState(
        provider=row.provider,
        redirect_uri=row.redirect_uri,
        code_verifier=verifier,
        scopes=tuple(row.scopes or ()),
        return_to=row.return_to,
        api_key_id=row.api_key_id,
        integration_id=row.integration_id,
    )


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, [FieldError("state", "oauth_state_invalid", message)], code="oauth_state_invalid")
