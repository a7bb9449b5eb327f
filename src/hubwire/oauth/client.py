"""The client side of OAuth 2.0: Authlib's ``AsyncOAuth2Client`` over Hubwire's one HTTP layer.

Authlib builds the authorization URL (PKCE S256), the token requests of each grant and the client
authentication (``client_secret_post``, ``client_secret_basic``, ``none``); every request it makes
goes through :class:`HubTransport`, i.e. :meth:`hubwire.net.http.HttpClient.exchange` (the SSRF
guard, the hub's pool, no redirects). Token responses become an Integration's credentials with
:func:`credentials_from`; failures become Hubwire's typed errors here, in :func:`token_error`.
Never logs or returns a token or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from hubwire.errors import ProviderAuthError, ProviderError, ProviderInvalidRequest, ProviderUnavailable
from hubwire.net.http import http_client
from hubwire.net.redact import register_secret, summary
from hubwire.oauth.apps import OAuthApp
from hubwire.oauth.spec import OAuthSpec

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = [
    "HubTransport",
    "authorization_url",
    "client_credentials",
    "credentials_from",
    "exchange_code",
    "refresh",
    "token_error",
]

# Response headers that described the body as sent; the body handed on is already decoded.
_HOP = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class HubTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport (what Authlib's client speaks) that sends through the hub's HTTP layer."""

    def __init__(self, hub: Hub, provider: str, secrets: Sequence[str] = ()) -> None:
        self.hub, self.provider, self.secrets = hub, provider, tuple(secrets)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        out = httpx.Request(request.method, str(request.url), headers=list(request.headers.multi_items()), content=body)
        http = http_client(self.hub)
        resp = await http.exchange(out, field="token_url", secrets=self.secrets, provider=self.provider)
        headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _HOP]
        return httpx2.Response(resp.status_code, headers=headers, content=resp.content, request=request)


def _client(hub: Hub, app: OAuthApp, spec: OAuthSpec, redirect_uri: str | None = None) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret if spec.client_auth != "none" else None,
        token_endpoint_auth_method=spec.client_auth,
        redirect_uri=redirect_uri,
        code_challenge_method="S256" if spec.pkce else None,
        transport=HubTransport(hub, app.provider, (app.client_secret,)),
        timeout=30.0,
    )


def authorization_url(
    hub: Hub,
    app: OAuthApp,
    spec: OAuthSpec,
    *,
    redirect_uri: str,
    state: str,
    scopes: Sequence[str],
    code_verifier: str | None,
) -> str:
    """Where to send the user: the provider's authorization URL with PKCE S256 unless declared unsupported."""
    client = _client(hub, app, spec, redirect_uri)
    params: dict[str, Any] = dict(spec.authorize_params)
    if scopes:
        params["scope"] = spec.scope_separator.join(scopes)
    url, _ = client.create_authorization_url(
        spec.authorize_url, state=state, code_verifier=code_verifier if spec.pkce else None, **params
    )
    return str(url)


async def exchange_code(
    hub: Hub, app: OAuthApp, spec: OAuthSpec, *, code: str, redirect_uri: str, code_verifier: str | None
) -> dict[str, Any]:
    """The token response for an authorization code (RFC 6749 4.1.3, RFC 7636 4.5)."""
    async with _client(hub, app, spec, redirect_uri) as client:
        kwargs: dict[str, Any] = {"code": code, "redirect_uri": redirect_uri}
        if spec.pkce and code_verifier:
            kwargs["code_verifier"] = code_verifier
        return await _token(app, client.fetch_token(spec.token_url, grant_type="authorization_code", **kwargs))


async def refresh(hub: Hub, app: OAuthApp, spec: OAuthSpec, refresh_token: str) -> dict[str, Any]:
    """The token response for a refresh token (RFC 6749 6); may or may not carry a new refresh token."""
    register_secret(refresh_token)
    async with _client(hub, app, spec) as client:
        return await _token(app, client.refresh_token(spec.token_url, refresh_token=refresh_token))


async def client_credentials(hub: Hub, app: OAuthApp, spec: OAuthSpec, scopes: Sequence[str]) -> dict[str, Any]:
    """The token response of the client-credentials grant (RFC 6749 4.4): the app is the account."""
    async with _client(hub, app, spec) as client:
        kwargs: dict[str, Any] = {"scope": spec.scope_separator.join(scopes)} if scopes else {}
        return await _token(app, client.fetch_token(spec.token_url, grant_type="client_credentials", **kwargs))


async def _token(app: OAuthApp, pending: Any) -> dict[str, Any]:
    try:
        token = dict(await pending)
    except AuthlibBaseError as exc:
        raise token_error(app.provider, str(exc.error or "oauth_error"), exc.description) from None
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        cls = ProviderUnavailable if status >= 500 else ProviderInvalidRequest
        raise cls(
            f"the token endpoint answered {status} without an OAuth response",
            provider=app.provider,
            provider_status=status,
        ) from None
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ProviderInvalidRequest("the token endpoint's response has no access_token", provider=app.provider)
    for key in ("access_token", "refresh_token", "id_token"):
        if isinstance(token.get(key), str):
            register_secret(token[key])
    return token


def token_error(provider: str, error: str, description: str | None) -> ProviderError:
    """A token endpoint's OAuth error (RFC 6749 5.2) as a typed error; ``invalid_grant`` is ``reauth_required``."""
    said = f"{error}: {summary(description)}" if description else error
    if error == "invalid_grant":
        return ProviderAuthError(
            f"{provider} refused the grant ({said}): the connection needs to be authorized again",
            code="reauth_required",
            provider=provider,
            oauth_error=error,
        )
    if error in ("invalid_client", "unauthorized_client"):
        return ProviderAuthError(
            f"{provider} refused the OAuth app's client credentials ({said})", provider=provider, oauth_error=error
        )
    return ProviderInvalidRequest(f"{provider}'s token endpoint refused the request ({said})", provider=provider)


def credentials_from(
    token: Mapping[str, Any], *, now: float, margin: float, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An Integration's stored credentials from a token response: the tokens and their times only
    (every string kept with credentials is masked wherever it appears: ``Bearer`` must not be one).

    Rotation: a response with a refresh token replaces the old one; one without keeps the old.
    ``refresh_at`` is when this token is refreshed (``expires_in`` minus the provider's margin, never
    before half its life has gone, so that a short-lived token is not refreshed on every call).
    ``issued_at`` (a number: only strings are masked) says a token endpoint issued them, even a
    token without expiry nor refresh token (Salesforce's client-credentials grant):
    :func:`hubwire.oauth.tokens.issued` then hands it out and fetches a new one after a 401.
    """
    creds: dict[str, Any] = {"access_token": str(token["access_token"]), "issued_at": now}
    refresh_token = token.get("refresh_token") or (previous or {}).get("refresh_token")
    if refresh_token:
        creds["refresh_token"] = str(refresh_token)
    expires_in = token.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        creds["expires_at"] = now + float(expires_in)
        creds["refresh_at"] = now + max(float(expires_in) - margin, float(expires_in) / 2)
    elif isinstance(token.get("expires_at"), int | float):
        creds["expires_at"] = float(token["expires_at"])
        creds["refresh_at"] = creds["expires_at"] - margin
    return creds
