"""API-key authentication and scopes of the REST API: ``Authorization: Bearer <key>`` on every /v1 route.

Keys are checked with :func:`hubwire.api.keys.verify_api_key`, then the key's scope against what
the route needs (:func:`hubwire.api.scopes.required_scope`): no key or a wrong one is a 401, a
valid key whose scope falls short a 403 ``insufficient_scope``. The OpenAPI document's security
entries are written by :func:`hubwire.api.openapi.document_security`. When the hub's settings disable
authentication (loopback only, enforced by :func:`hubwire.settings.check_bind`) every request passes.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers

from hubwire.api.keys import ApiKey, verify_api_key
from hubwire.api.scopes import Scope, allows, required_scope
from hubwire.errors import AuthenticationError, InsufficientScopeError
from hubwire.hub import Hub

__all__ = ["bearer_token", "hub_of", "require_api_key", "require_collect_key"]


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def bearer_token(headers: Headers) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (REST and MCP over HTTP): None without the header."""
    header = headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header must be `Bearer <key>`")
    return value.strip()


def _check_scope(request: Request, key: ApiKey) -> None:
    # The scope table is keyed by the path the matched route declares (``/v1/integrations/{id}``).
    # Without a matched route (never, for a route's dependency) only admin passes: fail closed.
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        path, needed = route.path, required_scope(request.method, route.path)
    else:
        path, needed = request.url.path, Scope.ADMIN
    if not allows(key.scope, needed):
        raise InsufficientScopeError(
            f"{request.method} {path} needs a key with the {needed.value} scope; this key has {key.scope.value}",
            required_scope=needed.value,
            scope=key.scope.value,
        )


async def require_api_key(request: Request) -> ApiKey | None:
    """Dependency of every authenticated router: a valid key whose scope allows the route.

    The verified key is kept on ``request.state.api_key``.
    """
    hub = hub_of(request)
    if not hub.settings.auth_required:
        request.state.api_key = None
        return None
    key = await verify_api_key(hub, bearer_token(request.headers))
    request.state.api_key = key
    _check_scope(request, key)
    return key


async def require_collect_key(request: Request) -> ApiKey | None:
    """What the collect routes call first: like :func:`require_api_key`, but the key may also come as
    ``?key=`` (``navigator.sendBeacon`` cannot set headers). Only a publishable collect key (or an
    admin one) passes the scope check, so a key in a URL can never do more than collect. A key
    verified in the last ``collect_key_cache_seconds`` is not read again.
    """
    hub = hub_of(request)
    if not hub.settings.auth_required:
        request.state.api_key = None
        return None
    token = bearer_token(request.headers) or request.query_params.get("key")
    # The hot path of a page's beacons: a key verified lately passes without a read (revocation
    # seen within ``collect_key_cache_seconds``; at once when revoked in this process).
    key = await verify_api_key(hub, token, max_age=hub.settings.collect_key_cache_seconds)
    request.state.api_key = key
    _check_scope(request, key)
    return key
