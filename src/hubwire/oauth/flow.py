"""The authorization flows: start one (:func:`authorize`) and finish it into credentials (:func:`obtain`).

``Integration.authorize`` and ``Integration.connect(code=..., state=...)`` are these two;
:mod:`hubwire.domains.platform` owns what happens to the credentials afterwards (the provider's
check, the Connected move, the initial sync), exactly as for any other connect.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubwire.errors import ValidationError
from hubwire.net.ssrf import normalize_url
from hubwire.oauth import apps, client, states
from hubwire.oauth.states import AuthorizationState

if TYPE_CHECKING:
    from hubwire.connectors.registry import Provider
    from hubwire.hub import Hub

__all__ = ["Grant", "authorize", "obtain", "wants_oauth"]


@dataclass(frozen=True)
class Grant:
    """What a finished flow gives ``connect``: credentials (tokens), config (non-secret token members),
    and the Integration the authorization was started for, if any (a re-authorization)."""

    credentials: dict[str, Any] = field(repr=False)
    config: dict[str, Any]
    integration_id: str | None = None
    state: AuthorizationState | None = None


def _scopes(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if not all(isinstance(s, str) for s in value):
        raise ValidationError.single("scopes", "type", "scopes must be a list of strings")
    return tuple(value)


async def authorize(
    hub: Hub,
    prov: Provider,
    *,
    redirect_uri: str,
    scopes: Sequence[str] | str | None = None,
    return_to: str | None = None,
    api_key_id: str | None = None,
    integration_id: str | None = None,
) -> str:
    """The URL to send the user to. ``redirect_uri`` is where the provider sends the code back (it
    must be registered with the provider); ``scopes`` are added to the app's (or the provider's) defaults."""
    app, spec = await apps.resolve(hub, prov)
    if spec.grant != "authorization_code":
        raise ValidationError.single(
            "provider", "oauth_grant", f"{prov.slug} connects with the {spec.grant} grant: connect it without a code"
        )
    if not isinstance(redirect_uri, str) or not redirect_uri:
        raise ValidationError.single("redirect_uri", "required", "authorize needs a redirect_uri")
    redirect_uri = normalize_url(redirect_uri)
    wanted = tuple(dict.fromkeys((*spec.scopes, *_scopes(scopes))))
    verifier = secrets.token_urlsafe(48) if spec.pkce else None
    state = await states.create(
        hub,
        provider=prov.slug,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        scopes=wanted,
        return_to=return_to,
        api_key_id=api_key_id,
        integration_id=integration_id,
    )
    return client.authorization_url(
        hub, app, spec, redirect_uri=redirect_uri, state=state, scopes=wanted, code_verifier=verifier
    )


async def wants_oauth(hub: Hub, prov: Provider, params: dict[str, Any]) -> bool:
    """Does this connect go through OAuth: a code to exchange, or a provider whose effective spec
    (declared, or set on its OAuth app: ``extra={"grant": "client_credentials"}``) is the
    client-credentials grant, connected without a token of its own?"""
    if prov.oauth is None:
        return False
    if "code" in params or "state" in params:
        return True
    if params.get("access_token"):
        return False
    spec = await apps.effective(hub, prov)
    return spec is not None and spec.grant == "client_credentials"


async def obtain(
    hub: Hub,
    prov: Provider,
    *,
    code: str | None = None,
    state: AuthorizationState | None = None,
    scopes: Sequence[str] | str | None = None,
) -> Grant:
    """Credentials from the provider's token endpoint: the code of a consumed ``state`` exchanged
    (authorization code), or a token of the client-credentials grant."""
    app, spec = await apps.resolve(hub, prov)
    now = hub.clock()
    if spec.grant == "client_credentials" and state is None:
        wanted = tuple(dict.fromkeys((*spec.scopes, *_scopes(scopes))))
        token = await client.client_credentials(hub, app, spec, wanted)
    else:
        if state is None or not code:
            raise ValidationError.single("code", "required", f"connecting {prov.slug} needs the code and the state")
        token = await client.exchange_code(
            hub, app, spec, code=code, redirect_uri=state.redirect_uri, code_verifier=state.code_verifier
        )
    creds = client.credentials_from(token, now=now, margin=spec.refresh_margin)
    config = {k: token[k] for k in spec.token_config if token.get(k) is not None}
    return Grant(creds, config, state.integration_id if state else None, state)
