"""MCP server: search / fetch / do over the Nouns, over stdio (`hubwire mcp`) and streamable HTTP (/mcp).

Never returns a credential: results are entities as the REST API shows them, events, runs,
deliveries and jobs; what a connect reveals once is withheld (see :mod:`hubwire.mcp.tools`).
"""

from hubwire.mcp.http import mount_mcp
from hubwire.mcp.server import build_server

__all__ = ["build_server", "mount_mcp"]
