"""The refresh race: 4 processes x 50 concurrent calls with an expired token -> exactly one refresh
at the authorization server, and every call succeeds (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from hubwire.hub import Hub
from tests.oauth.authserver import AuthlibServer
from tests.oauth.conftest import connect_through_flow, make_due
from tests.processes import ChildProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).with_name("refresh_process.py")
PROCESSES, CALLS = 4, 50


async def test_one_refresh_across_processes(
    oauth_hub: Hub, authserver: AuthlibServer, db_url: str, tmp_path: Path
) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    await make_due(oauth_hub, entity.id)
    authserver.expire_access_tokens()  # expired at the server too: a stale token gets a 401
    gos = [tmp_path / f"go-{i}" for i in range(PROCESSES)]
    results = [tmp_path / f"result-{i}.json" for i in range(PROCESSES)]
    children: list[ChildProcess] = []
    try:
        for go, result in zip(gos, results, strict=True):
            os.mkfifo(go)
            args = [db_url, str(tmp_path), entity.id, str(go), str(result), "--calls", str(CALLS)]
            children.append(start(SCRIPT, *args, stderr=subprocess.PIPE))
        for child in children:
            await child.ready()
        for go in gos:  # each child reads its FIFO to the end: opening and closing it lets it go
            await asyncio.to_thread(lambda go=go: open(go, "wb").close())
        codes = await asyncio.gather(*(asyncio.to_thread(c.proc.wait) for c in children))
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.kill()
            child.proc.wait()
            if child.proc.stderr:
                child.proc.stderr.close()
    assert codes == [0] * PROCESSES
    reports = [json.loads(r.read_text()) for r in results]
    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert sum(r["ok"] for r in reports) == PROCESSES * CALLS
    assert authserver.refreshes == 1, authserver.store.grants
    assert sum(r["refreshes"] for r in reports) == 1
