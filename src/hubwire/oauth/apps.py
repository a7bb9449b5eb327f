"""OAuth apps: a provider's client id and secret in this deployment, and its overrides.

One app per provider. The client secret is encrypted at rest (:mod:`hubwire.vault`, bound to the
provider) and never returned: :meth:`OAuthApp.to_dict` says only that one is set. An app may
override the provider's authorization and token URLs (a Salesforce sandbox, a simulator on
loopback), its default scopes, and anything else of its :class:`~hubwire.oauth.spec.OAuthSpec`
(``extra``: ``pkce``, ``client_auth``, ``refresh_margin``...). The token URL is dialled, so it
passes the SSRF guard when it is set (and again at every dial).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.errors import NotFoundError, ValidationError
from hubwire.net.redact import register_secret
from hubwire.net.ssrf import AddressPolicy, check_url, normalize_url
from hubwire.oauth.spec import OAuthSpec
from hubwire.store.events import iso
from hubwire.store.tables import oauth_apps

if TYPE_CHECKING:
    from hubwire.connectors.registry import Provider
    from hubwire.hub import Hub

__all__ = ["OAuthApp", "delete_app", "effective", "get_app", "list_apps", "resolve", "set_app"]

# What ``extra`` may override: the spec's fields but the URLs and scopes (columns of their own).
_EXTRA_KEYS = ("pkce", "client_auth", "grant", "refresh_margin", "scope_separator", "authorize_params", "token_config")


@dataclass(frozen=True)
class OAuthApp:
    provider: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    authorize_url: str | None = None
    token_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def overrides(self) -> dict[str, Any]:
        return {
            **self.extra,
            "authorize_url": self.authorize_url,
            "token_url": self.token_url,
            "scopes": self.scopes,
        }

    def to_dict(self) -> dict[str, Any]:
        """The app as shown to users: everything but the secret, which is only said to be set."""
        return {
            "provider": self.provider,
            "client_id": self.client_id,
            "client_secret_set": bool(self.client_secret),
            "scopes": list(self.scopes),
            "authorize_url": self.authorize_url,
            "token_url": self.token_url,
            "extra": dict(self.extra),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _context(provider: str) -> str:
    return f"oauth_app:{provider}"


def _oauth_of(hub: Hub, provider: str) -> OAuthSpec:
    prov = hub.providers.get(provider)  # ValidationError unknown_provider
    if prov.oauth is None:
        raise ValidationError.single(
            "provider", "oauth_unsupported", f"{provider} does not connect with OAuth 2.0", provider=provider
        )
    return prov.oauth


async def set_app(
    hub: Hub,
    provider: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    scopes: Sequence[str] | str | None = None,
    authorize_url: str | None = None,
    token_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> OAuthApp:
    """Create or update the OAuth app of ``provider``; what is not given keeps its value (a new app
    needs ``client_id`` and ``client_secret``). The merged spec is validated before anything is written."""
    declared = _oauth_of(hub, provider)
    current = await get_app(hub, provider, missing_ok=True)
    if current is None and (not client_id or not client_secret):
        missing = [k for k, v in (("client_id", client_id), ("client_secret", client_secret)) if not v]
        raise ValidationError.single(missing[0], "required", f"a new OAuth app for {provider} needs {missing[0]}")
    for key, value in (("client_id", client_id), ("client_secret", client_secret)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValidationError.single(key, "invalid", f"{key} must be a non-empty string")
    unknown = [k for k in (extra or {}) if k not in _EXTRA_KEYS]
    if unknown:
        raise ValidationError.single(
            f"extra.{unknown[0]}", "unknown_field", f"extra may set only {', '.join(_EXTRA_KEYS)}"
        )
    policy = AddressPolicy.from_settings(hub.settings)
    if authorize_url:
        authorize_url = normalize_url(authorize_url)  # shown to a browser, never dialled by Hubwire
    if token_url:
        # Not resolved here (the host may resolve only where Hubwire runs): every dial is guarded.
        token_url = await check_url(token_url, policy, resolve=False, field="token_url")
    app = OAuthApp(
        provider=provider,
        client_id=client_id or (current.client_id if current else ""),
        client_secret=client_secret or (current.client_secret if current else ""),
        scopes=OAuthSpec.from_mapping({"scopes": scopes}).scopes
        if scopes is not None
        else (current.scopes if current else ()),
        authorize_url=authorize_url or (current.authorize_url if current else None),
        token_url=token_url or (current.token_url if current else None),
        extra={**(current.extra if current else {}), **(extra or {})},
    )
    _merged(declared, app).validate()
    register_secret(app.client_secret)
    now = hub.clock()
    values = {
        "client_id": app.client_id,
        "ciphertext": hub.vault.encrypt({"client_secret": app.client_secret}, context=_context(provider)),
        "key_id": hub.vault.key_id,
        "scopes": list(app.scopes),
        "authorize_url": app.authorize_url,
        "token_url": app.token_url,
        "extra": dict(app.extra),
        "updated_at": now,
    }
    async with hub.transaction() as tx:
        res = await tx.conn.execute(oauth_apps.update().where(oauth_apps.c.provider == provider).values(**values))
        if res.rowcount == 0:
            await tx.conn.execute(oauth_apps.insert().values(provider=provider, created_at=now, **values))
    return await get_app(hub, provider)  # type: ignore[return-value]


async def get_app(hub: Hub, provider: str, *, missing_ok: bool = False) -> OAuthApp | None:
    async with hub.read() as conn:
        row = (await conn.execute(sa.select(oauth_apps).where(oauth_apps.c.provider == provider))).first()
    if row is None:
        if missing_ok:
            return None
        raise NotFoundError(f"no OAuth app for {provider}", code="oauth_app_not_found", provider=provider)
    return _app(hub, row)


async def list_apps(hub: Hub) -> list[OAuthApp]:
    async with hub.read() as conn:
        rows = (await conn.execute(sa.select(oauth_apps).order_by(oauth_apps.c.provider))).all()
    return [_app(hub, r) for r in rows]


async def delete_app(hub: Hub, provider: str) -> None:
    async with hub.transaction() as tx:
        res = await tx.conn.execute(oauth_apps.delete().where(oauth_apps.c.provider == provider))
    if res.rowcount == 0:
        raise NotFoundError(f"no OAuth app for {provider}", code="oauth_app_not_found", provider=provider)


def _merged(declared: OAuthSpec, app: OAuthApp | None) -> OAuthSpec:
    """The one place a provider's declared spec and its OAuth app's overrides are merged."""
    return declared if app is None else declared.merged(app.overrides())


async def effective(hub: Hub, prov: Provider) -> OAuthSpec | None:
    """How ``prov`` does OAuth in this deployment: its declared spec with its OAuth app's overrides
    (the app's ``grant``, URLs, scopes...); the declared one when no app is set, ``None`` without OAuth.
    Every decision that depends on the spec (is this connect an OAuth one, which grant) reads this."""
    if prov.oauth is None:
        return None
    return _merged(prov.oauth, await get_app(hub, prov.slug, missing_ok=True))


async def resolve(hub: Hub, prov: Provider) -> tuple[OAuthApp, OAuthSpec]:
    """The app of ``prov`` and its OAuth spec with the app's overrides; a clear error when there is no app."""
    declared = _oauth_of(hub, prov.slug)
    app = await get_app(hub, prov.slug, missing_ok=True)
    if app is None:
        raise ValidationError.single(
            "provider",
            "oauth_app_missing",
            f"{prov.slug} needs an OAuth app first: hubwire oauth-apps set {prov.slug} "
            "--client-id ... --client-secret ... (or PUT /v1/oauth-apps/{provider})",
            provider=prov.slug,
        )
    spec = _merged(declared, app)
    spec.validate()
    return app, spec


def _app(hub: Hub, row: sa.Row[Any]) -> OAuthApp:
    secret = str(hub.vault.decrypt(bytes(row.ciphertext), context=_context(row.provider))["client_secret"])
    register_secret(secret)
    return OAuthApp(
        provider=row.provider,
        client_id=row.client_id,
        client_secret=secret,
        scopes=tuple(row.scopes or ()),
        authorize_url=row.authorize_url,
        token_url=row.token_url,
        extra=dict(row.extra or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
