"""What an API key of each scope may do: the one table of the scope each REST route needs.

    read    GET routes: Nouns, the event log and its SSE stream, jobs, deliveries, received
            provider webhooks, providers, runs
    write   read, plus every other method: create, update and delete Nouns and run their verbs
            (Integration.sync included), retry jobs, resend, recover and test webhook deliveries,
            replay received provider webhooks
    admin   everything: API keys, webhook secret rotation, OAuth apps, and an Integration's
            credentials and configuration (create, connect, reconnect, disconnect, PATCH, DELETE,
            starting an OAuth authorization), and the proxy (``POST /v1/integrations/{id}/proxy``):
            it sends any request the Integration's credentials allow, beyond the Nouns' verbs a
            write key is trusted with (reading every record, deleting at the provider)
    collect only ``POST /v1/collect``: the publishable key a web page carries (``apikey create
            --collect-only``); it is granted nothing else, and no other scope but admin grants it

A route needs what its method says (GET and HEAD read, anything else write) unless it is an
exception below. Routes are looked up by the path they declare (``/v1/integrations/{id}``), so
routers declare full paths. ``tests/api/test_scopes.py`` sends a request with a key of each scope
to every route of the app, so a route whose scope was not decided fails it.

Pure: no I/O, no FastAPI; :mod:`hubwire.api.auth` applies it to requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from hubwire.errors import ValidationError

__all__ = [
    "ADMIN_PREFIXES",
    "ADMIN_ROUTES",
    "COLLECT_ROUTES",
    "GRANTS",
    "Scope",
    "allows",
    "parse_scope",
    "required_scope",
]


class Scope(StrEnum):
    """A key's scope, and what a route needs."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    COLLECT = "collect"


# What a key of each scope is granted. A set rather than a rank: the publishable, collect-only key
# is granted COLLECT and nothing else; admin is granted everything, COLLECT too.
GRANTS: Mapping[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset(Scope),
    Scope.COLLECT: frozenset({Scope.COLLECT}),
}
# Routes a collect key may call (and read and write keys may not).
COLLECT_ROUTES: frozenset[tuple[str, str]] = frozenset({("POST", "/v1/collect")})

# Routes that need admin though their method says less. An Integration's credentials and
# configuration decide where Hubwire sends those credentials, so changing them is the admin's.
ADMIN_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/integrations"),
        ("PATCH", "/v1/integrations/{id}"),
        ("DELETE", "/v1/integrations/{id}"),
        ("POST", "/v1/integrations/connect"),
        ("POST", "/v1/integrations/{id}/connect"),
        ("POST", "/v1/integrations/{id}/disconnect"),
        ("POST", "/v1/webhooks/endpoints/{id}/rotate-secret"),
        # The proxy uses the credentials for any request, not only the Nouns' verbs.
        ("POST", "/v1/integrations/{id}/proxy"),
        # Starting an OAuth authorization ends in a connect.
        ("GET", "/v1/oauth/{provider}/authorize"),
    }
)
# Every method under these: listing keys is as much the admin's as making them.
ADMIN_PREFIXES = ("/v1/api-keys", "/v1/oauth-apps")
_READ_METHODS = frozenset({"GET", "HEAD"})
_NAMES = tuple(s.value for s in Scope)


def required_scope(method: str, path: str) -> Scope:
    """The scope a request needs, from its method and the path its route declares."""
    method = method.upper()
    if (method, path) in COLLECT_ROUTES:
        return Scope.COLLECT
    if (method, path) in ADMIN_ROUTES or any(path == p or path.startswith(p + "/") for p in ADMIN_PREFIXES):
        return Scope.ADMIN
    return Scope.READ if method in _READ_METHODS else Scope.WRITE


def allows(scope: Scope, needed: Scope) -> bool:
    return needed in GRANTS[scope]


def parse_scope(value: object, field: str = "scope") -> Scope:
    """A scope from input, or a ValidationError naming the field and the scopes there are."""
    if isinstance(value, str) and value in _NAMES:
        return Scope(value)
    raise ValidationError.single(field, "invalid_scope", f"{field} must be one of {', '.join(_NAMES)}")
