"""``hubwire mcp``: the MCP server over stdio, on the configured database, for a local agent.

stdout carries the protocol and nothing else (logs go to stderr). Whoever runs it holds the
database, so its calls have the admin scope, as the other CLI commands do.
"""

from __future__ import annotations

import typer

from hubwire.cli.runtime import import_modules, with_hub
from hubwire.hub import Hub
from hubwire.mcp.server import build_server

__all__ = ["mcp"]


def mcp(imports: list[str] = typer.Option([], "--import", help="Import MODULE first (repeatable).")) -> None:
    """Serve the MCP tools (search, fetch, do) and resources over stdio."""
    import_modules(imports)

    async def go(hub: Hub) -> None:
        await build_server(hub).run_stdio_async()

    with_hub(go)
