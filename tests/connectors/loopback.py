"""A tiny provider API on loopback for framework tests: owners and widgets, page pagination.

Speaks just enough of a typical REST API: bearer auth (401 otherwise), ``page``/``limit``
pagination, ``since`` for incremental lists, and injected faults (status, Retry-After, delay).
Widgets can be written too (``POST /widgets``, ``GET``/``PATCH``/``DELETE /widgets/{id}``), with
Stripe-like ``Idempotency-Key`` replays, answers that get lost after the write was done
(``lose_answers``) and a gate that holds writes (``hold_writes``) for the push outbox's tests.
Every request is recorded with its arrival time so tests can count requests per second.
"""

from __future__ import annotations

import asyncio
import itertools
import json
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
    # Widget writes: Idempotency-Key -> (status, body) answered; writes done but answered 500.
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lose_answers: int = 0
    # While set to an unset Event, writes wait for it (``write_arrived`` is set when one does).
    hold_writes: asyncio.Event | None = None
    write_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    def writes(self) -> list[Seen]:
        """The widget writes received (POST, PATCH, DELETE), in order."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "DELETE") and r.path.startswith("/widgets")]

    def widget(self, widget_id: str) -> dict[str, Any] | None:
        return next((w for w in self.widgets if w["id"] == widget_id), None)

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
    if request.path.startswith("/widgets") and (request.method != "GET" or request.path != "/widgets"):
        return await _write_widget(api, request, body)
    table = {"/owners": api.owners, "/widgets": api.widgets}.get(request.path)
    if table is None:
        return web.json_response({"message": "Not Found"}, status=404)
    since = request.query.get("since")
    rows = [r for r in table if since is None or r["updated"] >= int(since)]
    page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 10))
    return web.json_response({"items": rows[(page - 1) * limit : page * limit]})


_WRITABLE = ("name", "color", "owner_id", "dims")


async def _write_widget(api: LoopbackAPI, request: web.Request, body: str) -> web.StreamResponse:
    """A widget's GET/POST/PATCH/DELETE; a repeated Idempotency-Key gets the first answer again."""
    if request.method == "GET":
        found = api.widget(request.path.removeprefix("/widgets/"))
        return web.json_response(found or {"message": "Not Found"}, status=200 if found else 404)
    api.write_arrived.set()
    if api.hold_writes is not None:
        await api.hold_writes.wait()
    key = request.headers.get("Idempotency-Key")
    if key is not None and key in api.idempotent:
        status, answer = api.idempotent[key]
        return web.json_response(answer, status=status, headers={"Idempotent-Replayed": "true"})
    status, answer = _apply_write(api, request.method, request.path, json.loads(body) if body else {})
    if key is not None:
        api.idempotent[key] = (status, answer)
    if api.lose_answers:
        api.lose_answers -= 1  # done here, but the client never hears it
        return web.json_response({"message": "upstream connect error"}, status=500)
    return web.json_response(answer, status=status)


def _apply_write(api: LoopbackAPI, method: str, path: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    stamp = max((int(w.get("updated", 0)) for w in api.widgets), default=0) + 1
    fields = {k: v for k, v in data.items() if k in _WRITABLE}
    if method == "POST" and path == "/widgets":
        made = {"id": f"w{next(api._ids)}", "dims": {"w": 0}, "owner_id": None, "color": None, **fields}
        made["updated"] = stamp
        api.widgets.append(made)
        return 201, made
    found = api.widget(path.removeprefix("/widgets/"))
    if found is None:
        return 404, {"message": "Not Found"}
    if method == "PATCH":
        found.update(fields, updated=stamp)
        return 200, found
    if method == "DELETE":
        api.widgets.remove(found)
        return 200, {"id": found["id"], "deleted": True}
    return 405, {"message": "Method Not Allowed"}


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
