"""How a provider does OAuth 2.0, declared as data: :class:`OAuthSpec`.

A provider class sets ``oauth = OAuthSpec(...)``; an OAuth app (:mod:`hubwire.oauth.apps`)
overrides the URLs and scopes per deployment (a Salesforce sandbox, a simulator on loopback).
Pure: imports nothing of Hubwire's runtime, never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from hubwire.errors import FieldError, ValidationError

__all__ = ["CLIENT_AUTH_METHODS", "DEFAULT_REFRESH_MARGIN", "GRANTS", "OAuthSpec"]

ClientAuth = Literal["client_secret_post", "client_secret_basic", "none"]
Grant = Literal["authorization_code", "client_credentials"]
CLIENT_AUTH_METHODS: tuple[str, ...] = ("client_secret_post", "client_secret_basic", "none")
GRANTS: tuple[str, ...] = ("authorization_code", "client_credentials")
# Nango's default: refresh a token 15 minutes before it expires.
DEFAULT_REFRESH_MARGIN = 900.0


@dataclass(frozen=True)
class OAuthSpec:
    """A provider's OAuth 2.0: where to send the user and where to get tokens, and how.

    ``pkce`` is on unless the provider declares it unsupported (S256 only). ``client_auth`` is how
    the client authenticates at the token endpoint (RFC 6749 2.3.1: form fields or HTTP Basic).
    ``grant`` is ``authorization_code`` (a user approves) or ``client_credentials`` (the app is the
    account). ``refresh_margin`` is how many seconds before expiry a token is refreshed.
    ``token_config`` names members of the token response kept in the Integration's config (not
    secrets: Salesforce's ``instance_url``). ``authorize_params`` are sent as they are
    (``access_type=offline`` for Google).
    """

    authorize_url: str = ""
    token_url: str = ""
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    client_auth: ClientAuth = "client_secret_post"
    grant: Grant = "authorization_code"
    refresh_margin: float = DEFAULT_REFRESH_MARGIN
    scope_separator: str = " "
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    token_config: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "oauth") -> OAuthSpec:
        """A spec from JSON-like data (a custom provider's declaration); ValidationError naming each bad key."""
        known = {f.name for f in fields(cls)}
        errors = [
            FieldError(f"{where}.{k}", "unknown_field", f"{where} has no {k!r} (known: {', '.join(sorted(known))})")
            for k in data
            if k not in known
        ]
        if errors:
            raise ValidationError(f"invalid {where}: " + "; ".join(e.message for e in errors), errors)
        values = dict(data)
        if "scopes" in values:
            values["scopes"] = _scopes(values["scopes"], f"{where}.scopes")
        if "token_config" in values:
            values["token_config"] = _scopes(values["token_config"], f"{where}.token_config")
        spec = cls(**values)
        spec.validate(where=where, need_urls=False)
        return spec

    def merged(self, overrides: Mapping[str, Any]) -> OAuthSpec:
        """This spec with the non-empty ``overrides`` (an OAuth app's URLs, scopes, extra data) applied."""
        wanted = {k: v for k, v in overrides.items() if v is not None and v != "" and v != ()}
        for name in ("scopes", "token_config"):
            if name in wanted:
                wanted[name] = _scopes(wanted[name], name)
        return replace(self, **wanted) if wanted else self

    def validate(self, *, where: str = "oauth", need_urls: bool = True) -> None:
        errors: list[FieldError] = []
        if need_urls:
            errors += [
                FieldError(f"{where}.{k}", "required", f"{where}.{k} is required")
                for k in ("token_url", *(("authorize_url",) if self.grant == "authorization_code" else ()))
                if not getattr(self, k)
            ]
        if self.client_auth not in CLIENT_AUTH_METHODS:
            errors.append(
                FieldError(f"{where}.client_auth", "invalid", f"client_auth must be one of {CLIENT_AUTH_METHODS}")
            )
        if self.grant not in GRANTS:
            errors.append(FieldError(f"{where}.grant", "invalid", f"grant must be one of {GRANTS}"))
        if (
            isinstance(self.refresh_margin, bool)
            or not isinstance(self.refresh_margin, int | float)
            or self.refresh_margin < 0
        ):
            errors.append(FieldError(f"{where}.refresh_margin", "invalid", "refresh_margin is seconds, 0 or more"))
        for name in ("authorize_url", "token_url", "scope_separator"):
            if not isinstance(getattr(self, name), str):
                errors.append(FieldError(f"{where}.{name}", "type", f"{name} must be a string"))
        if not isinstance(self.pkce, bool):
            errors.append(FieldError(f"{where}.pkce", "type", "pkce must be true or false"))
        for name in ("scopes", "token_config"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                errors.append(FieldError(f"{where}.{name}", "type", f"{name} must be a list of strings"))
        params = self.authorize_params
        if not isinstance(params, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            errors.append(FieldError(f"{where}.authorize_params", "type", "authorize_params maps names to strings"))
        if errors:
            raise ValidationError(f"invalid {where}: " + "; ".join(e.message for e in errors), errors)


def _scopes(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValidationError.single(where, "type", f"{where} must be a list of strings")
