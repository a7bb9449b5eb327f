"""The MCP server of a Hub: the ``search``, ``fetch`` and ``do`` tools and the catalogue resources.

    server = build_server(hub)
    await server.run_stdio_async()            # `hubwire mcp`
    mount_mcp(app, hub)                       # streamable HTTP at /mcp in `hubwire serve`

A tool's input schema is regenerated from the declared Nouns whenever tools are listed, so a Noun
a user declares appears without code. A Hubwire error becomes an MCP tool error (``isError``)
whose structured content is ``{"error": {"code", "message", ...}}``, redacted like a REST problem.
Over HTTP the caller's scope is the API key's (:mod:`hubwire.mcp.http`); over stdio or in
process it is admin, as for the CLI: whoever runs it holds the database. Never returns a
credential (see :mod:`hubwire.mcp.tools`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from mcp_types import Tool as MCPTool

import hubwire
from hubwire.api.routes.integrations import describe
from hubwire.api.scopes import Scope
from hubwire.errors import AuthenticationError, HubwireError
from hubwire.events import event_types as registered_event_types
from hubwire.hub import Hub
from hubwire.mcp import schemas, tools
from hubwire.net.redact import redact

__all__ = ["EVENT_TYPES_URI", "NOUNS_URI", "PROVIDERS_URI", "SCOPE_STATE", "HubwireMCP", "build_server"]

NOUNS_URI = "hubwire://nouns"
EVENT_TYPES_URI = "hubwire://event-types"
PROVIDERS_URI = "hubwire://providers"
# Where the HTTP transport leaves the verified key's scope on the request (``request.state``).
SCOPE_STATE = "hubwire_scope"
INSTRUCTIONS = (
    "Hubwire: external services as typed entities (Nouns) with verbs. `search` lists a Noun's entities "
    'with a filter ({"type": "Integration", "filter": {"status": "Active"}}), `fetch` reads anything by id, '
    '`do` runs a verb ({"type": "Integration", "verb": "sync", "id": "integration_..."}). Read '
    f"{NOUNS_URI} for every Noun's fields, verbs and states, {PROVIDERS_URI} for what can be connected."
)

ToolBody = Callable[[Scope], Awaitable[dict[str, Any]]]


class HubwireMCP(MCPServer[Any]):
    """An MCPServer whose tool schemas follow the Nouns declared at the time of listing."""

    def __init__(self, hub: Hub, schema_of: dict[str, Callable[[], dict[str, Any]]], registered: list[Tool]) -> None:
        super().__init__(
            "hubwire", version=hubwire.__version__, instructions=INSTRUCTIONS, tools=registered, log_level="WARNING"
        )
        self.hub = hub
        self._schema_of = schema_of
        self._tools = {t.name: t for t in registered}

    async def list_tools(self) -> list[MCPTool]:
        for name, schema in self._schema_of.items():
            self._tools[name].parameters = schema()
        return await super().list_tools()


def caller_scope(ctx: Context[Any, Any]) -> Scope:
    """The scope of this call: the API key's over HTTP, admin over stdio and in process."""
    request = ctx.request_context.request
    if request is None:
        return Scope.ADMIN
    scope = getattr(getattr(request, "state", None), SCOPE_STATE, None)
    if not isinstance(scope, Scope):  # a request the HTTP guard did not see: fail closed
        raise AuthenticationError("this MCP request carries no verified API key")
    return scope


def _result(value: dict[str, Any]) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(value, ensure_ascii=False, default=str))],
        structured_content=value,
    )


def _error(exc: HubwireError) -> CallToolResult:
    error = redact(exc.to_dict())
    return CallToolResult(
        content=[TextContent(type="text", text=f"{error['message']} ({exc.code})")],
        structured_content={"error": error},
        is_error=True,
    )


async def _run(hub: Hub, ctx: Context[Any, Any], body: ToolBody) -> CallToolResult:
    token = hub.activate()  # the SDK runs tools in its own tasks: make this hub the current one
    try:
        return _result(await body(caller_scope(ctx)))
    except HubwireError as exc:
        return _error(exc)
    finally:
        token.var.reset(token)


def build_server(hub: Hub) -> HubwireMCP:
    """The MCP server of ``hub`` (tools and resources; no transport yet)."""

    async def search(
        ctx: Context[Any, Any],
        type: str,
        filter: dict[str, Any] | None = None,
        limit: int = 20,
        cursor: str | None = None,
        sort: str | None = None,
    ) -> CallToolResult:
        """Find entities of a Noun with a filter, a page at a time: {"data", "has_more", "next_cursor"}."""
        return await _run(hub, ctx, lambda scope: tools.search(hub, scope, type, filter, limit, cursor, sort))

    async def fetch(ctx: Context[Any, Any], id: str, type: str | None = None) -> CallToolResult:
        """Read one thing by its id: an entity, an event, a sync run, a webhook delivery or a job."""
        return await _run(hub, ctx, lambda scope: tools.fetch(hub, scope, id, type))

    async def do(
        ctx: Context[Any, Any],
        type: str,
        verb: str,
        id: str | None = None,
        args: dict[str, Any] | None = None,
        version: int | None = None,
    ) -> CallToolResult:
        """Run a verb of a Noun (create, update, delete, Integration.connect/sync/disconnect, custom verbs)."""
        return await _run(hub, ctx, lambda scope: tools.do(hub, scope, type, verb, id, args, version))

    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    registered = [
        Tool.from_function(search, annotations=read_only),
        Tool.from_function(fetch, annotations=read_only),
        Tool.from_function(do, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True)),
    ]
    schema_of = {"search": schemas.search_schema, "fetch": schemas.fetch_schema, "do": schemas.do_schema}
    server = HubwireMCP(hub, schema_of, registered)

    @server.resource(NOUNS_URI, name="nouns", mime_type="application/json")
    def nouns() -> str:
        """Every Noun: fields with their types, verbs with the events they emit, state machines."""
        return json.dumps(schemas.noun_catalogue(), ensure_ascii=False, default=str)

    @server.resource(PROVIDERS_URI, name="providers", mime_type="application/json")
    def providers() -> str:
        """The providers that can be connected, with the names (never values) of their credentials."""
        return json.dumps([describe(p) for p in hub.providers.all()], ensure_ascii=False)

    @server.resource(EVENT_TYPES_URI, name="event-types", mime_type="application/json")
    def event_types() -> str:
        """Every event Hubwire can emit (Noun events and registered ones) with its payload schema and an example."""
        return json.dumps([t.to_dict() for t in registered_event_types()], ensure_ascii=False, default=str)

    return server
