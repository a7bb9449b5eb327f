"""OAuth 2.0 providers declared as data, without Python: :func:`declare_provider`.

A declaration is a JSON object::

    {"slug": "acme", "name": "Acme CRM", "category": "CRM",
     "api_base_url": "https://api.acme.example", "check": "/v1/me",
     "oauth": {"authorize_url": "https://acme.example/oauth/authorize",
               "token_url": "https://acme.example/oauth/token",
               "scopes": ["contacts.read"], "pkce": true, "client_auth": "client_secret_basic"}}

``check`` is the path a connect calls with the new token (its JSON body becomes the Integration's
``config.account``); ``oauth`` is an :class:`~hubwire.oauth.spec.OAuthSpec`. ``HUBWIRE_OAUTH_PROVIDERS``
names a JSON file holding a list of them, registered with every Hub. Requests to such a provider
(``Integration.use`` / the proxy, when they come) carry its OAuth token like any other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubwire.connectors.registry import ProviderRegistry, default_registry
from hubwire.connectors.runtime import SpecProvider
from hubwire.connectors.spec import Auth, Endpoint, ProviderSpec
from hubwire.errors import ConfigurationError, FieldError, HubwireError, ValidationError
from hubwire.extensions import on_hub
from hubwire.oauth.spec import OAuthSpec

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["declare_provider", "load_providers"]

_KEYS = ("slug", "name", "category", "description", "api_base_url", "check", "oauth", "provider_url")
_CATEGORIES = ("Payment", "CRM", "Marketing", "Analytics", "Communication", "Storage", "AI", "Other")


def declare_provider(data: Mapping[str, Any], registry: ProviderRegistry | None = None) -> SpecProvider:
    """A provider from its declaration, registered in ``registry`` (default: the default registry)."""
    errors = [FieldError(k, "unknown_field", f"a provider declaration has no {k!r}") for k in data if k not in _KEYS]
    for key in ("slug", "name", "api_base_url", "oauth"):
        if not data.get(key):
            errors.append(FieldError(key, "required", f"a provider declaration needs {key}"))
    slug = data.get("slug")
    if slug is not None and (not isinstance(slug, str) or not slug.replace("_", "").replace("-", "").isalnum()):
        errors.append(FieldError("slug", "invalid", "slug must be letters, digits, - and _"))
    if data.get("category", "Other") not in _CATEGORIES:
        errors.append(FieldError("category", "invalid", f"category must be one of {', '.join(_CATEGORIES)}"))
    check = data.get("check")
    if check is not None and (not isinstance(check, str) or not check.startswith("/")):
        errors.append(FieldError("check", "invalid", "check is a path on the API, starting with /"))
    if errors:
        raise ValidationError("invalid provider declaration: " + "; ".join(e.message for e in errors), errors)
    if not isinstance(data["oauth"], Mapping):
        raise ValidationError.single("oauth", "type", "oauth must be an object")
    oauth_spec = OAuthSpec.from_mapping(data["oauth"])
    api_spec = ProviderSpec(
        base_url=str(data["api_base_url"]),
        auth=Auth("bearer", credential="access_token"),
        check=Endpoint("GET", check) if check else None,
    )

    class Declared(SpecProvider):
        name = str(data["name"])
        category = str(data.get("category", "Other"))
        description = str(data.get("description") or "")
        provider_url = data.get("provider_url")
        auth_type = "OAuth2"
        api_base_url = str(data["api_base_url"])
        oauth_scopes = " ".join(oauth_spec.scopes) or None
        credential_fields = ("access_token", "refresh_token")
        oauth = oauth_spec
        spec = api_spec

        def account(self, body: Any) -> dict[str, Any] | None:
            return dict(body) if isinstance(body, Mapping) else None

    Declared.slug = str(slug)
    Declared.__name__ = Declared.__qualname__ = f"Declared_{slug}"
    made = Declared()
    (registry if registry is not None else default_registry).register(made)
    return made


def load_providers(path: Path, registry: ProviderRegistry) -> list[SpecProvider]:
    """Declare every provider of a JSON file (a list of declarations) into ``registry``."""
    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"HUBWIRE_OAUTH_PROVIDERS: cannot read {path}: {exc}") from None
    if not isinstance(items, list):
        raise ConfigurationError(f"HUBWIRE_OAUTH_PROVIDERS: {path} must hold a JSON list of provider declarations")
    made = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise ValidationError.single("provider", "type", "a declaration is a JSON object")
            made.append(declare_provider(item, registry))
        except HubwireError as exc:
            raise ConfigurationError(f"HUBWIRE_OAUTH_PROVIDERS: {path} item {i}: {exc.message}") from None
    return made


@on_hub
def _install(hub: Hub) -> None:
    path = hub.settings.oauth_providers
    if path is not None:
        load_providers(path, hub.providers)
