"""``hubwire mcp`` started as a process and driven over stdio by the official client."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

import hubwire
from hubwire.hub import Hub
from tests.conftest import TEST_SECRET

NOUNS = """
from hubwire import Noun

Ticket = Noun("Ticket", {"title": "string!", "state": "Open | Resolved", "resolve": "Resolved"})
"""


@pytest.mark.slow
async def test_hubwire_mcp_serves_the_configured_database_over_stdio(db_url: str, mhub: Hub, tmp_path: Path) -> None:
    (tmp_path / "stdio_nouns.py").write_text(NOUNS)
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "hubwire"),
        args=["mcp"],
        cwd=tmp_path,
        env={
            "HUBWIRE_DATABASE_URL": db_url,
            "HUBWIRE_DATA_DIR": str(tmp_path),
            "HUBWIRE_SECRET_KEY": TEST_SECRET,
            "HUBWIRE_IMPORT": "stdio_nouns",
            "HUBWIRE_LOG_LEVEL": "WARNING",
        },
    )
    async with Client(params, read_timeout_seconds=30) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert "Ticket" in listed["do"].input_schema["properties"]["type"]["enum"]
        created = await client.call_tool("do", {"type": "Ticket", "verb": "create", "args": {"title": "stdio"}})
        assert not created.is_error and created.structured_content is not None
        tid = created.structured_content["$id"]
        resolved = await client.call_tool("do", {"type": "Ticket", "verb": "resolve", "id": tid})
        assert resolved.structured_content is not None and resolved.structured_content["state"] == "Resolved"
        found = await client.call_tool("search", {"type": "Ticket", "filter": {"state": "Resolved"}})
        assert found.structured_content is not None and [t["$id"] for t in found.structured_content["data"]] == [tid]
        bad = await client.call_tool("do", {"type": "Ticket", "verb": "create", "args": {}})
        assert bad.is_error and bad.structured_content is not None
        assert bad.structured_content["error"]["code"] == "validation_error"
    # The process wrote to the configured database: the test's own hub reads the same entity.
    namespace: dict[str, object] = {}
    exec(NOUNS, namespace)
    ticket = namespace["Ticket"]
    assert isinstance(ticket, hubwire.Noun) and (await ticket.get(tid))["state"] == "Resolved"
