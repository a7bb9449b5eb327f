"""A real OAuth 2.0 authorization server on loopback, built with Authlib's server side (Flask).

Authorization code with PKCE required (S256 or plain, as Authlib's ``CodeChallenge(required=True)``),
refresh tokens rotated on use (the used one revoked), the client-credentials grant, client
authentication by form fields or HTTP Basic, and a protected resource ``GET /api/me`` that checks
the bearer token. Approval is automatic (no user to ask). ``refreshes`` counts refresh grants served.
Runs in a thread (werkzeug's server); ``expire_access_tokens`` makes every access token expired now.

Also the test provider that connects to it (:func:`provider`), used in-process and by the race's
child processes.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from hubwire.connectors.runtime import SpecProvider
from hubwire.connectors.spec import Auth, Endpoint, ProviderSpec
from hubwire.oauth import OAuthSpec

CLIENT_ID = "hubwire-test-client"
CLIENT_SECRET = "hubwire-test-client-secret-1234"
SLUG = "authlibtest"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    auth_method: str = "client_secret_post"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return not self.redirect_uris or redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token", "client_credentials")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token:
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return "user-1"

    def get_client(self) -> Client:
        return Client(self.client_id, "")


@dataclass
class Store:
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: list[Token] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)  # grant_type of every token handed out
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_access(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.access_token == value), None)

    def by_refresh(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.refresh_token == value), None)


def build_app(store: Store, expires_in: int = 3600) -> Flask:
    app = Flask(__name__)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": expires_in,
        "refresh_token": expires_in,
        "client_credentials": expires_in,
    }

    def save_token(token: dict[str, Any], req: Any) -> None:
        with store.lock:
            store.tokens.append(
                Token(
                    req.client.client_id,
                    token["access_token"],
                    token.get("refresh_token"),
                    token.get("scope", ""),
                    time.time(),
                    int(token["expires_in"]),
                )
            )
            store.grants.append(req.payload.grant_type if req.payload else "authorization_code")

    server = AuthorizationServer(app, query_client=store.clients.get, save_token=save_token)

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            p = req.payload
            store.codes[code] = Code(
                code,
                req.client.client_id,
                p.redirect_uri,
                p.scope or "",
                p.data.get("code_challenge"),
                p.data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            held = store.codes.get(code)
            return held if held is not None and held.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            store.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return "user-1"

    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh hands out a new refresh token

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            held = store.by_refresh(refresh_token)
            return held if held is not None and not held.revoked else None

        def authenticate_user(self, refresh_token: Token) -> str:
            return "user-1"

        def revoke_old_credential(self, refresh_token: Token) -> None:
            refresh_token.revoked = True

    class CredentialsGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    server.register_grant(CodeGrant, [CodeChallenge(required=True)])
    server.register_grant(RefreshGrant)
    server.register_grant(CredentialsGrant)

    class Validator(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            return store.by_access(token_string)

    protect = ResourceProtector()
    protect.register_token_validator(Validator())

    @app.get("/authorize")
    def authorize() -> Any:
        try:
            grant = server.get_consent_grant(end_user="user-1")
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        return server.create_authorization_response(grant_user="user-1", grant=grant)

    @app.post("/token")
    def issue_token() -> Any:
        return server.create_token_response()

    @app.get("/api/me")
    @protect()
    def me() -> Any:
        return jsonify({"id": "user-1", "name": "Ada"})

    @app.get("/api/widgets")
    @protect()
    def widgets() -> Any:
        return jsonify({"data": [], "has_more": False, "caller": request.headers.get("User-Agent", "")})

    return app


class AuthlibServer:
    """The server on ``http://127.0.0.1:PORT`` in a thread; ``with AuthlibServer() as s: s.url``."""

    def __init__(self, *, expires_in: int = 3600, auth_method: str = "client_secret_post") -> None:
        self.store = Store()
        self.store.clients[CLIENT_ID] = Client(CLIENT_ID, CLIENT_SECRET, auth_method=auth_method)
        self._server = make_server("127.0.0.1", 0, build_app(self.store, expires_in), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def refreshes(self) -> int:
        return self.store.grants.count("refresh_token")

    def expire_access_tokens(self) -> None:
        for t in self.store.tokens:
            t.issued_at = 0.0

    def revoke_refresh_tokens(self) -> None:
        for t in self.store.tokens:
            t.revoked = True

    def __enter__(self) -> AuthlibServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def provider(
    grant: str = "authorization_code", *, slug: str = SLUG, base_url: str = "https://api.example.invalid"
) -> SpecProvider:
    """An OAuth provider for the server above; its OAuth URLs come from the OAuth app (as a sandbox's
    would), its API from ``base_url`` or the Integration's ``api_base_url``."""

    class AuthlibTest(SpecProvider):
        name, category, auth_type = "Authlib test server", "Other", "OAuth2"
        credential_fields = ("access_token", "refresh_token")
        oauth = OAuthSpec(
            authorize_url="https://auth.example.invalid/authorize",
            token_url="https://auth.example.invalid/token",
            scopes=("profile",),
            grant=grant,  # type: ignore[arg-type]
        )
        spec = ProviderSpec(
            base_url=base_url,
            auth=Auth("bearer", credential="access_token"),
            check=Endpoint("GET", "/api/me"),
        )

        def account(self, body: Any) -> dict[str, Any] | None:
            return {"id": body["id"], "name": body["name"]} if isinstance(body, dict) else None

    AuthlibTest.slug = slug
    return AuthlibTest()
