"""An OAuth 2.0 authorization server's bookkeeping, shared by the simulators that offer OAuth.

Owns the grants and nothing about HTTP: registered clients, authorization codes (single use,
expiring after ``code_ttl`` seconds, bound to client and redirect URI, PKCE S256 or plain verified
when a challenge was sent), access tokens with their expiry, refresh tokens (rotated on use when
``rotate_refresh`` is set; a used, revoked or unknown one is ``invalid_grant``) and the
client-credentials grant. Each simulator turns :class:`OAuthError` and :class:`TokenGrant` into its
provider's wire format. Approval is automatic: there is no user to ask.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = [
    "SIMULATOR_CLIENT_ID",
    "SIMULATOR_CLIENT_SECRET",
    "AccessToken",
    "OAuthClient",
    "OAuthError",
    "OAuthServer",
    "TokenGrant",
    "redirect_with",
]

# The OAuth app ``hubwire simulate`` registers with a CRM simulator (printed as an oauth-apps line).
SIMULATOR_CLIENT_ID = "hubwire-simulator"
SIMULATOR_CLIENT_SECRET = "hubwire-simulator-client-secret"


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 section 5.2): ``error`` is the standard code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str


@dataclass
class AccessToken:
    token: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class TokenGrant:
    """What a token endpoint hands out; ``refresh_token`` is None for the client-credentials grant."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    scopes: tuple[str, ...]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str
    expires_at: float


@dataclass
class OAuthServer:
    """Codes and tokens of one simulated provider. ``now`` is the simulator's clock (epoch seconds)."""

    now: Callable[[], float]
    expires_in: int = 1800
    code_ttl: float = 600.0
    rotate_refresh: bool = False
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)  # grant_type of every token handed out, in order
    _codes: dict[str, _Code] = field(default_factory=dict)

    def register(self, client_id: str, client_secret: str) -> OAuthClient:
        client = OAuthClient(client_id, client_secret)
        self.clients[client_id] = client
        return client

    def authorize(
        self,
        client_id: str | None,
        redirect_uri: str | None,
        scopes: tuple[str, ...] = (),
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """A fresh authorization code (the user approves at once)."""
        if not client_id or client_id not in self.clients:
            raise OAuthError("invalid_client", "unknown client_id", 400)
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required", 400)
        method = code_challenge_method or "plain"
        if code_challenge is not None and method not in ("S256", "plain"):
            raise OAuthError("invalid_request", f"unsupported code_challenge_method {method!r}", 400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(client_id, redirect_uri, scopes, code_challenge, method, self.now() + self.code_ttl)
        return code

    def approve(self, query: dict[str, str]) -> str:
        """Where ``GET /authorize?client_id&redirect_uri&scope&state[&code_challenge...]`` redirects to:
        the redirect URI with a fresh ``code`` and the caller's ``state``."""
        code = self.authorize(
            query.get("client_id"),
            query.get("redirect_uri"),
            tuple(query.get("scope", "").split()),
            query.get("code_challenge"),
            query.get("code_challenge_method"),
        )
        return redirect_with(query["redirect_uri"], code=code, state=query.get("state"))

    def exchange_code(
        self,
        client: OAuthClient,
        code: str | None,
        redirect_uri: str | None,
        code_verifier: str | None = None,
    ) -> TokenGrant:
        """Tokens for an authorization code; the code is spent even when the exchange fails (as providers do)."""
        granted = self._codes.pop(code or "", None)
        if granted is None or granted.client_id != client.client_id or granted.expires_at <= self.now():
            raise OAuthError("invalid_grant", "authorization code is invalid, expired or already used")
        if redirect_uri != granted.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if granted.challenge is not None and not _pkce_matches(granted.challenge, granted.method, code_verifier):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return self._issue(client.client_id, granted.scopes, "authorization_code", with_refresh=True)

    def refresh(self, client: OAuthClient, refresh_token: str | None) -> TokenGrant:
        held = self.refresh_tokens.get(refresh_token or "")
        if held is None or held[0] != client.client_id:
            raise OAuthError("invalid_grant", "refresh token is invalid, revoked or already used")
        assert refresh_token is not None
        if self.rotate_refresh:
            del self.refresh_tokens[refresh_token]
            return self._issue(client.client_id, held[1], "refresh_token", with_refresh=True)
        grant = self._issue(client.client_id, held[1], "refresh_token", with_refresh=False)
        return TokenGrant(grant.access_token, refresh_token, grant.expires_in, grant.scopes)

    def client_credentials(self, client: OAuthClient, scopes: tuple[str, ...] = ()) -> TokenGrant:
        return self._issue(client.client_id, scopes, "client_credentials", with_refresh=False)

    def grant(
        self,
        client: OAuthClient,
        form: Mapping[str, str],
        grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    ) -> TokenGrant:
        """The token endpoint's work for a form of ``grant_type`` (one of ``grant_types``, what the provider takes)."""
        grant_type = form.get("grant_type")
        if grant_type not in grant_types:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        if grant_type == "authorization_code":
            return self.exchange_code(client, form.get("code"), form.get("redirect_uri"), form.get("code_verifier"))
        if grant_type == "refresh_token":
            return self.refresh(client, form.get("refresh_token"))
        return self.client_credentials(client)

    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> OAuthClient:
        client = self.clients.get(client_id or "")
        if client is None or not hmac.compare_digest(client.client_secret, client_secret or ""):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (a refresh token takes its access tokens with it)."""
        self.access_tokens.pop(token, None)
        held = self.refresh_tokens.pop(token, None)
        if held is not None:
            for value in [t for t, a in self.access_tokens.items() if a.client_id == held[0]]:
                del self.access_tokens[value]

    def expire(self, token: str) -> None:
        """Make an access token expired now (tests of refresh-on-401)."""
        self.access_tokens[token].expires_at = self.now() - 1

    def valid(self, token: str) -> AccessToken | None:
        held = self.access_tokens.get(token)
        return held if held is not None and held.expires_at > self.now() else None

    def _issue(self, client_id: str, scopes: tuple[str, ...], grant_type: str, *, with_refresh: bool) -> TokenGrant:
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(access, client_id, scopes, self.now() + self.expires_in)
        refresh = None
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = (client_id, scopes)
        self.grants.append(grant_type)
        return TokenGrant(access, refresh, self.expires_in, scopes)


def _pkce_matches(challenge: str, method: str, verifier: str | None) -> bool:
    if not verifier:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(verifier, challenge)


def redirect_with(redirect_uri: str, **params: str | None) -> str:
    """``redirect_uri`` with ``params`` (those not None) added to its query string."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"
