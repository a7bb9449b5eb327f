"""API-key authentication of the REST API: ``Authorization: Bearer <key>`` on every /v1 route.

Keys are checked with :func:`hubwire.api.keys.verify_api_key`. When the hub's settings disable
authentication (loopback only, enforced by :func:`hubwire.settings.check_bind`) every request passes.
"""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hubwire.api.keys import ApiKey, verify_api_key
from hubwire.errors import AuthenticationError
from hubwire.hub import Hub

__all__ = ["bearer_scheme", "hub_of", "require_api_key"]

# Only documents the scheme in OpenAPI; the check itself is ours (so failures are problems).
bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `hubwire apikey create`")


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header must be `Bearer <key>`")
    return value.strip()


async def require_api_key(
    request: Request,
    _documented: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> ApiKey | None:
    """Dependency of every authenticated router; the verified key is kept on ``request.state.api_key``."""
    hub = hub_of(request)
    if not hub.settings.auth_required:
        request.state.api_key = None
        return None
    key = await verify_api_key(hub, _bearer(request))
    request.state.api_key = key
    return key
