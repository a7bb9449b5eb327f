"""End to end over real HTTP: uvicorn on 127.0.0.1 (ephemeral port), embedded worker, API key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import uvicorn

import hubwire
from hubwire.api.app import create_app
from tests.api.conftest import ACME_SECRET, AcmeProvider, serve


async def _until(check: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def test_connect_find_sync_events_over_http(
    hub: hubwire.Hub, acme: AcmeProvider, api_key: str, deal: hubwire.Noun
) -> None:
    app = create_app(hub, workers=1, worker_concurrency=4)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=headers) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/v1/integrations", headers={"Authorization": "Bearer nope"})).status_code == 401

        connected = await c.post("/v1/integrations/connect", json={"provider": "acme", "api_key": ACME_SECRET})
        assert connected.status_code == 201, connected.text
        iid = connected.json()["$id"]
        found = (await c.get("/v1/integrations", params={"provider": "acme", "status": "Active"})).json()
        assert [i["$id"] for i in found["data"]] == [iid]  # Active: Connected, or Synced if the worker was quick

        async def synced_once() -> dict[str, Any] | None:
            got = (await c.get(f"/v1/integrations/{iid}")).json()
            return got if got["status"] == "Synced" else None

        first = await _until(synced_once)  # the initial sync connect enqueued, run by the embedded worker
        assert first["last_sync_count"] == AcmeProvider.records
        r = await c.post(f"/v1/integrations/{iid}/sync")
        assert r.status_code == 202

        async def two_syncs() -> list[dict[str, Any]] | None:
            page = (await c.get("/v1/events", params={"types": "Integration.Synced"})).json()
            return page["data"] if len(page["data"]) >= 2 else None

        synced_events = await _until(two_syncs)
        assert {e["entity_id"] for e in synced_events} == {iid}
        everything = (await c.get("/v1/events", params={"types": "Integration.*"})).json()["data"]
        assert [e["event"] for e in everything][:2] == ["Integration.Created", "Integration.Connected"]
        jobs = (await c.get("/v1/jobs", params={"kind": "integration.sync", "status": "done"})).json()["data"]
        assert len(jobs) == 2
        listed = (await c.get("/v1/integrations", params={"status": "Synced"})).json()["data"]
        assert [i["$id"] for i in listed] == [iid]
        assert ACME_SECRET not in json.dumps(everything) and ACME_SECRET not in json.dumps(listed)
    assert all(t.done() for t in app.state.workers)


async def test_event_stream_resumes_and_ends_when_the_client_leaves(
    hub: hubwire.Hub, api_key: str, deal: hubwire.Noun
) -> None:
    app = create_app(hub)
    app.state.sse_poll_interval = 0.05
    headers = {"Authorization": f"Bearer {api_key}"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as c:
        first = (await c.post("/v1/deals", json={"name": "before", "stage": "Open"})).json()
        seen = (await c.get("/v1/events")).json()["next_after"]

        received: list[dict[str, Any]] = []
        async with c.stream("GET", "/v1/events/stream", headers={"Last-Event-ID": str(seen)}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            await c.post(f"/v1/deals/{first['$id']}/close")
            await c.post("/v1/deals", json={"name": "after", "stage": "Open"})
            event: dict[str, Any] = {}
            async with asyncio.timeout(10):
                async for line in stream.aiter_lines():
                    if line.startswith(("id:", "event:", "data:")):
                        key, _, value = line.partition(": ")
                        event[key.rstrip(":")] = value
                    elif line == "" and "data" in event:
                        received.append(event)
                        event = {}
                        if len(received) == 2:
                            break
            assert app.state.event_streams == 1
        assert [e["event"] for e in received] == ["Deal.Closed", "Deal.Created"]
        ids = [int(e["id"]) for e in received]
        assert seen < ids[0] < ids[1]  # resumed after Last-Event-ID, in log order
        assert json.loads(received[1]["data"])["data"]["name"] == "after"

        async def stream_ended() -> bool:
            return app.state.event_streams == 0

        await _until(stream_ended, timeout=5)


async def test_the_server_stops_at_once_with_an_event_stream_open(
    hub: hubwire.Hub, api_key: str, deal: hubwire.Noun
) -> None:
    app = create_app(hub, workers=0)
    app.state.sse_poll_interval = 0.02
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    await _until(lambda: _started(server, serving))
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    opened = asyncio.Event()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:

        async def listen() -> list[str]:
            seen = []
            async with c.stream("GET", "/v1/events/stream", params={"types": "Deal.*"}) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("event:"):
                        seen.append(line.removeprefix("event: "))
                        opened.set()
            return seen

        listener = asyncio.create_task(listen())
        await c.post("/v1/deals", json={"name": "seen", "stage": "Open"})
        await asyncio.wait_for(opened.wait(), 10)
        server.should_exit = True  # what SIGTERM or Ctrl-C does
        # uvicorn stops though the stream had five minutes left of its own, and the client's side ends cleanly.
        await asyncio.wait_for(serving, 10)
        assert await asyncio.wait_for(listener, 5) == ["Deal.Created"]
    assert app.state.event_streams == 0


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    assert not serving.done()
    return server.started
