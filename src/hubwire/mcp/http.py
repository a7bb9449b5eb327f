"""The MCP server over streamable HTTP at ``/mcp`` of the REST app, behind the same API keys.

    mount_mcp(app, hub)    # in create_app: POST /mcp, one JSON answer per request (stateless)

Every request needs ``Authorization: Bearer <key>`` (a 401 problem without a valid one, as on
/v1); the key's scope travels on the request to the tools, which decide with the REST table.
A browser's ``Origin`` must be a loopback one (any port), as the SDK's default has it, or one of
``HUBWIRE_MCP_ALLOWED_ORIGINS``: anything else is a 403, so a web page cannot drive a local
Hubwire. When bound to loopback the SDK's DNS-rebinding guard also checks the ``Host`` header.
Stateless and answering in JSON: any process of a scale-out deployment can take any request.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hubwire.api.auth import bearer_token
from hubwire.api.keys import verify_api_key
from hubwire.api.problems import problem, problem_for
from hubwire.api.scopes import Scope as KeyScope
from hubwire.errors import HubwireError
from hubwire.hub import Hub
from hubwire.mcp.server import SCOPE_STATE, build_server

__all__ = ["LOOPBACK_ORIGINS", "MCP_PATH", "MCPGuard", "allowed_origins", "mount_mcp", "origin_allowed"]

MCP_PATH = "/mcp"
# The SDK's own defaults for a server on loopback (``mcp.server.lowlevel.Server.streamable_http_app``).
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


def allowed_origins(extra: Sequence[str]) -> list[str]:
    return [*LOOPBACK_ORIGINS, *extra]


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """No Origin (not a browser) passes; else an exact match or a ``scheme://host:*`` pattern's host, any port."""
    if not origin:
        return True
    return any(origin == a or (a.endswith(":*") and origin.startswith(a[:-1])) for a in allowed)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class MCPGuard:
    """ASGI guard in front of the SDK's transport: the Origin, then the API key, whose scope it passes on."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub
        self.origins = allowed_origins(hub.settings.mcp_allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if not origin_allowed(origin, self.origins):
            detail = f"Origin {origin} may not use /mcp (allow it with HUBWIRE_MCP_ALLOWED_ORIGINS)"
            await problem(403, "origin_not_allowed", "Origin not allowed", detail)(scope, receive, send)
            return
        granted: Any = KeyScope.ADMIN
        if self.hub.settings.auth_required:
            try:
                granted = (await verify_api_key(self.hub, bearer_token(headers))).scope
            except HubwireError as exc:
                await problem_for(exc)(scope, receive, send)
                return
        scope.setdefault("state", {})[SCOPE_STATE] = granted
        await self.app(scope, receive, send)


def mount_mcp(app: FastAPI, hub: Hub) -> None:
    """Serve ``hub``'s MCP server at ``/mcp`` of ``app``; its sessions start and stop with the app."""
    sessions = _Sessions(hub)
    app.router.routes.append(Route(MCP_PATH, endpoint=MCPGuard(sessions.handle_request, hub)))
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with outer(application) as state, sessions.running():
            yield state

    app.router.lifespan_context = lifespan


class _Sessions:
    """The SDK's session manager of each run of the app: a manager runs only once, an app may start
    more than once (a test serving the same app twice), so each lifespan makes its own."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.manager: StreamableHTTPSessionManager | None = None

    def _make(self) -> StreamableHTTPSessionManager:
        hub, host = self.hub, self.hub.settings.host
        server = build_server(hub)
        security = (
            TransportSecuritySettings(
                allowed_hosts=list(LOOPBACK_HOSTS), allowed_origins=allowed_origins(hub.settings.mcp_allowed_origins)
            )
            if _loopback(host)
            else TransportSecuritySettings(enable_dns_rebinding_protection=False)  # Host is the deployment's name
        )
        # Builds the session manager; its own Starlette app is not used: the route serves it.
        server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=security,
            host=host,
        )
        return server.session_manager

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.manager = self._make()
        try:
            async with _running(self.manager):
                yield
        finally:
            self.manager = None

    async def handle_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.manager is None:
            await problem(503, "mcp_not_running", "MCP not running", "the server is starting or stopping")(
                scope, receive, send
            )
            return
        await self.manager.handle_request(scope, receive, send)


@asynccontextmanager
async def _running(manager: StreamableHTTPSessionManager) -> AsyncIterator[None]:
    # The manager's anyio task group must be left in the task that entered it, and a lifespan may
    # end in another task than it started in (test fixtures do): so it lives in a task of its own.
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with manager.run():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold(), name="hubwire-mcp-sessions")
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        ready.cancel()
        task.result()  # the manager failed to start: raise why
    try:
        yield
    finally:
        stop.set()
        await task
