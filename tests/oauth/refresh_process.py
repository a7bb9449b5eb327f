"""One process of the refresh race: ``python refresh_process.py DB_URL DATA_DIR INTEGRATION_ID GO RESULT --ready-fd N``.

Opens a hub on the shared database, says it is ready, waits for the FIFO ``GO`` to be opened and
closed by the parent (so that every process starts at once), then makes ``--calls`` concurrent API
calls the way connectors make them (a token from ``hubwire.oauth.access_token`` per request) and
writes what happened to ``RESULT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from hubwire import Integration, oauth
from hubwire.connectors.registry import ProviderContext, ProviderRegistry
from hubwire.connectors.spec import Endpoint
from hubwire.hub import Hub
from tests.oauth.authserver import provider
from tests.processes import say_ready

SECRET = "test-secret-key-not-for-production"


async def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("database_url", "data_dir", "integration_id", "go", "result"):
        parser.add_argument(name)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args()
    registry = ProviderRegistry()
    prov = registry.register(provider())
    hub = Hub(
        database_url=args.database_url,
        data_dir=Path(args.data_dir),
        secret_key=SECRET,
        providers=registry,
        auto_migrate=False,
        allow_private_networks=True,
    )
    async with hub:
        entity = await Integration.get(args.integration_id)
        say_ready(args.ready_fd)
        # The start line: GO is a FIFO; the parent opens it (and closes it) once every process is ready.
        await asyncio.to_thread(Path(args.go).read_bytes)

        async def call() -> object:
            ctx = ProviderContext(hub, prov, entity, {}, dict(entity.get("config") or {}))
            return await prov.connection(ctx).call(Endpoint("GET", "/api/me"))  # type: ignore[attr-defined]

        started = time.perf_counter()
        results = await asyncio.gather(*(call() for _ in range(args.calls)), return_exceptions=True)
        seconds = time.perf_counter() - started  # bench/oauth_race.py's wall time
        Path(args.result).write_text(
            json.dumps(
                {
                    "ok": sum(1 for r in results if r == {"id": "user-1", "name": "Ada"}),
                    "errors": [repr(r) for r in results if isinstance(r, BaseException)],
                    "refreshes": oauth.refresh_count(hub),
                    "seconds": seconds,
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
