"""The refresh race of issue 12, as a figure: N processes x M concurrent calls with an expired token
against Authlib's authorization server on loopback, and the same calls with a fresh token.

Run by hand (not a test): ``.venv/bin/python bench/oauth_race.py [--processes 4] [--calls 50]
[--rounds 3] [--only sqlite|postgresql]``.

The machinery is the race test's (tests/oauth/test_refresh_race.py): Authlib's server
(``tests.oauth.authserver``: PKCE required, refresh tokens rotated) in a thread of this process, an
Integration connected through the authorization code flow, and N child processes
(``tests/oauth/refresh_process.py``) that open a hub on the same database, wait at one start line
(a FIFO each) and make M concurrent API calls the way connectors make them (a token from
``hubwire.oauth.access_token`` per request, ``GET /api/me`` at the server). Per round:

- **fresh**: the stored token is valid: every call reads it (one database read per process) and
  goes straight to the API;
- **expired**: the stored token is due and expired at the server: exactly one refresh must happen
  across every coroutine and process (the others wait on the lock and reuse its result).

Printed per round: calls, successes, refreshes counted by the server (aim: exactly 1 when expired,
0 when fresh), and the wall time (the slowest process, from its start line to its last answer);
then the ratio expired / fresh of the medians: what the shared refresh costs the calls.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module asyncio needs: keep bench/ off the path, the repository on it.
if sys.path and sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)):
    del sys.path[0]
sys.path.insert(
    0, __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__)))
)

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.sync import drop_database, hub_database

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "oauth" / "refresh_process.py"
SECRET = "test-secret-key-not-for-production"  # what tests/oauth/refresh_process.py opens the hub with


async def race(db_url: str, tmp: Path, integration_id: str, processes: int, calls: int) -> dict[str, Any]:
    """One start of ``processes`` children making ``calls`` calls each; their reports summed."""
    from tests.processes import ChildProcess, start

    gos = [tmp / f"go-{i}" for i in range(processes)]
    results = [tmp / f"result-{i}.json" for i in range(processes)]
    children: list[ChildProcess] = []
    try:
        for go, result in zip(gos, results, strict=True):
            go.unlink(missing_ok=True)
            result.unlink(missing_ok=True)
            os.mkfifo(go)
            args = [db_url, str(tmp), integration_id, str(go), str(result), "--calls", str(calls)]
            children.append(start(SCRIPT, *args, stderr=subprocess.PIPE))
        for child in children:
            await child.ready()
        for go in gos:
            await asyncio.to_thread(lambda go=go: open(go, "wb").close())
        codes = await asyncio.gather(*(asyncio.to_thread(c.proc.wait) for c in children))
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.kill()
            child.proc.wait()
            if child.proc.stderr:
                child.proc.stderr.close()
    if codes != [0] * processes:
        raise SystemExit(f"a process failed: exit codes {codes}")
    reports = [json.loads(r.read_text()) for r in results]
    return {
        "calls": processes * calls,
        "ok": sum(r["ok"] for r in reports),
        "errors": sum(len(r["errors"]) for r in reports),
        "seconds": max(r["seconds"] for r in reports),
    }


async def run_backend(backend: str, processes: int, calls: int, rounds: int) -> dict[str, Any]:
    from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, SLUG, AuthlibServer, provider
    from tests.oauth.conftest import connect_through_flow, make_due

    from hubwire.connectors.registry import ProviderRegistry
    from hubwire.hub import Hub
    from hubwire.oauth import set_app

    name = f"bench_oauth_race_{os.getpid()}"
    with tempfile.TemporaryDirectory() as d, AuthlibServer() as server:
        tmp = Path(d)
        db_url = hub_database("hubwire-sqlite" if backend == "sqlite" else "hubwire-pg", tmp, name)
        try:
            registry = ProviderRegistry()
            registry.register(provider(base_url=server.url))
            hub = Hub(
                database_url=db_url,
                data_dir=tmp,
                secret_key=SECRET,
                providers=registry,
                allow_private_networks=True,
            )
            out: dict[str, list[dict[str, Any]]] = {"fresh": [], "expired": []}
            async with hub:
                await set_app(
                    hub,
                    SLUG,
                    client_id=CLIENT_ID,
                    client_secret=CLIENT_SECRET,
                    authorize_url=f"{server.url}/authorize",
                    token_url=f"{server.url}/token",
                )
                entity = await connect_through_flow(hub, server.url)
                for _ in range(rounds):
                    for kind in ("fresh", "expired"):
                        if kind == "expired":
                            await make_due(hub, entity.id)
                            server.expire_access_tokens()  # a stale token gets a 401 too
                        before = server.refreshes
                        got = await race(db_url, tmp, entity.id, processes, calls)
                        got["refreshes"] = server.refreshes - before
                        out[kind].append(got)
                        print(
                            f"{backend:10} {kind:7} calls {got['calls']:4}  ok {got['ok']:4}  errors {got['errors']}  "
                            f"refreshes at the server {got['refreshes']}  wall {got['seconds']:.3f} s",
                            flush=True,
                        )
        finally:
            if backend == "postgresql":
                drop_database(name)
    fresh = statistics.median(r["seconds"] for r in out["fresh"])
    expired = statistics.median(r["seconds"] for r in out["expired"])
    print(f"{backend:10} median wall: fresh {fresh:.3f} s, expired {expired:.3f} s: ratio {expired / fresh:.2f}x")
    return {"fresh": fresh, "expired": expired, "rounds": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    os.environ["HUBWIRE_ALLOW_PRIVATE_NETWORKS"] = "1"  # the server is on loopback
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    for backend in (args.only,) if args.only else ("sqlite", "postgresql"):
        asyncio.run(run_backend(backend, args.processes, args.calls, args.rounds))


if __name__ == "__main__":
    main()
