"""A tiny provider API on loopback for framework tests: owners and widgets, page pagination.

Speaks just enough of a typical REST API: bearer auth (401 otherwise), ``page``/``limit``
pagination, ``since`` for incremental lists, and injected faults (status, Retry-After, delay).
Every request is recorded with its arrival time so tests can count requests per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubwire.net.ssrf import AddressPolicy

__all__ = ["LOOPBACK", "LoopbackAPI", "Seen", "loopback_api"]

# The SSRF guard opened, for clients of the servers these tests run on loopback.
LOOPBACK = AddressPolicy(allow_private=True)

TOKEN = "tok_loopback_secret_123"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class LoopbackAPI:
    url: str = ""
    owners: list[dict[str, Any]] = field(default_factory=list)
    widgets: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    fail_paths: dict[str, int] = field(default_factory=dict)  # path -> status, every time

    def fail_next(self, n: int, status: int = 500, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        self.faults += [(status, dict(headers or {}), delay)] * n

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]


async def _handle(api: LoopbackAPI, request: web.Request) -> web.StreamResponse:
    body = await request.text()
    api.requests.append(
        Seen(request.method, request.path, dict(request.query), dict(request.headers), body, time.monotonic())
    )
    if api.faults:
        status, headers, delay = api.faults.pop(0)
        if delay:
            await asyncio.sleep(delay)
        if status:
            return web.json_response({"message": f"injected {status}"}, status=status, headers=headers)
    if request.path in api.fail_paths:
        return web.json_response({"message": "broken"}, status=api.fail_paths[request.path])
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"message": "Bad credentials"}, status=401)
    if request.path == "/me":
        return web.json_response({"login": "octo", "id": 7})
    if request.path == "/echo":
        return web.json_response({"method": request.method, "body": body, "query": dict(request.query)})
    if request.path == "/invalid":
        # Like providers that quote what they got: the credential must not leak through our error.
        said = f"No such thing: x (key {request.headers.get('Authorization', '')[7:]})"
        return web.json_response({"error": {"type": "invalid_request_error", "message": said}}, status=400)
    if request.path == "/missing":
        return web.json_response({"message": "Not Found"}, status=404)
    table = {"/owners": api.owners, "/widgets": api.widgets}.get(request.path)
    if table is None:
        return web.json_response({"message": "Not Found"}, status=404)
    since = request.query.get("since")
    rows = [r for r in table if since is None or r["updated"] >= int(since)]
    page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 10))
    return web.json_response({"items": rows[(page - 1) * limit : page * limit]})


@asynccontextmanager
async def loopback_api() -> AsyncIterator[LoopbackAPI]:
    api = LoopbackAPI()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await _handle(api, request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.url = f"http://127.0.0.1:{port}"
    try:
        yield api
    finally:
        await runner.cleanup()
