"""The event log pages and the job routes."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI

import hubwire
from hubwire.jobs import queue
from hubwire.store.events import append


async def test_events_page_by_seq_and_filter_by_type(client: httpx.AsyncClient) -> None:
    a = (await client.post("/v1/deals", json={"name": "a", "stage": "Open"})).json()
    await client.post(f"/v1/deals/{a['$id']}/close")
    await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})

    everything = (await client.get("/v1/events")).json()
    types = [e["event"] for e in everything["data"]]
    assert types == ["Deal.Created", "Deal.Closed", "Integration.Created"]
    seqs = [e["seq"] for e in everything["data"]]
    assert seqs == sorted(seqs) and everything["next_after"] == seqs[-1]

    page = (await client.get("/v1/events", params={"limit": 1})).json()
    assert [e["event"] for e in page["data"]] == ["Deal.Created"]
    rest = (await client.get("/v1/events", params={"after": page["next_after"]})).json()
    assert [e["event"] for e in rest["data"]] == ["Deal.Closed", "Integration.Created"]
    empty = (await client.get("/v1/events", params={"after": seqs[-1]})).json()
    assert empty == {"data": [], "next_after": seqs[-1]}

    picked = (await client.get("/v1/events", params={"types": "Deal.*,Integration.Created"})).json()["data"]
    assert len(picked) == 3
    closed = (await client.get("/v1/events", params={"types": "Deal.Closed"})).json()["data"]
    assert [e["entity_id"] for e in closed] == [a["$id"]] and closed[0]["data"]["stage"] == "Closed"


async def test_jobs_list_get_retry_and_retry_dead(hub: hubwire.Hub, client: httpx.AsyncClient) -> None:
    @hubwire.job_kind("test.api.fails", max_attempts=1)
    async def fails(job: hubwire.Job, hub: hubwire.Hub) -> None:
        raise hubwire.Dead("always")

    async with hub.transaction() as tx:
        first = await queue.enqueue(tx, "test.api.fails", {"n": 1})
        await queue.enqueue(tx, "test.api.fails", {"n": 2})
    await hubwire.Worker(hub).drain()

    dead = (await client.get("/v1/jobs", params={"status": "dead", "kind": "test.api.fails"})).json()["data"]
    assert sorted(j["payload"]["n"] for j in dead) == [1, 2]
    assert all(j["last_error"] and j["status"] == "dead" for j in dead)

    one = await client.get(f"/v1/jobs/{first}")
    assert one.status_code == 200 and one.json()["payload"] == {"n": 1}

    retried = await client.post(f"/v1/jobs/{first}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued" and retried.json()["attempts"] == 0
    busy = await client.post(f"/v1/jobs/{first}/retry")
    assert busy.status_code == 409 and busy.json()["code"] == "conflict"

    bulk = await client.post("/v1/jobs/retry-dead", params={"kind": "test.api.fails"})
    assert bulk.status_code == 200 and bulk.json() == {"requeued": 1}
    queued = (await client.get("/v1/jobs", params={"status": "queued"})).json()["data"]
    assert sorted(j["payload"]["n"] for j in queued) == [1, 2]
    assert (await client.get("/v1/jobs", params={"status": "dead"})).json()["data"] == []


async def test_event_stream_format_and_timeout(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.sse_poll_interval = 0.02
    made = (await client.post("/v1/deals", json={"name": "streamed", "stage": "Open"})).json()
    await client.post(f"/v1/deals/{made['$id']}/close")
    await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})
    r = await client.get("/v1/events/stream", params={"types": "Deal.*", "timeout": "0.3"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    blocks = [b for b in r.text.split("\n\n") if b.startswith("id:")]
    parsed = [dict(line.split(": ", 1) for line in b.splitlines()) for b in blocks]
    assert [p["event"] for p in parsed] == ["Deal.Created", "Deal.Closed"]
    first = json.loads(parsed[0]["data"])
    assert first["seq"] == int(parsed[0]["id"]) and first["entity_id"] == made["$id"]
    resumed = await client.get(
        "/v1/events/stream", params={"types": "Deal.*", "timeout": "0.2"}, headers={"Last-Event-ID": parsed[0]["id"]}
    )
    assert [b.split("\n")[1] for b in resumed.text.split("\n\n") if b.startswith("id:")] == ["event: Deal.Closed"]
    assert app.state.event_streams == 0


async def test_a_type_prefix_with_an_underscore_matches_only_what_it_says(
    hub: hubwire.Hub, app: FastAPI, client: httpx.AsyncClient
) -> None:
    # In SQL LIKE, "_" is any one character and "%" any run of them: the prefix is escaped.
    async with hub.transaction() as tx:
        for type_ in ("order_line.created", "orderXline.created", "order%line.created", "orders.created"):
            await append(tx, type_, "Order", "order_1", {}, "tests")
    app.state.sse_poll_interval = 0.02
    for query, wanted in (("order_line.*", ["order_line.created"]), ("order%*", ["order%line.created"])):
        listed = (await client.get("/v1/events", params={"types": query})).json()["data"]
        assert [e["event"] for e in listed] == wanted
        streamed = await client.get("/v1/events/stream", params={"types": query, "timeout": "0.2"})
        assert [line.removeprefix("event: ") for line in streamed.text.splitlines() if line.startswith("event:")] == (
            wanted
        )


async def test_any_type_filter_is_an_answer_never_a_server_error(client: httpx.AsyncClient) -> None:
    """Type names go into the SQL as quoted literals (a plan per filter): odd text must stay text."""
    await client.post("/v1/deals", json={"name": "a", "stage": "Open"})
    for odd in ("Deal'.*", "x'); DROP TABLE events; --", "a\\b*", "Deal.\x00", "é" * 300, "Deal.%", "*,Deal.*"):
        r = await client.get("/v1/events", params={"types": odd})
        assert r.status_code in (200, 422), (odd, r.status_code, r.text)
    assert [e["event"] for e in (await client.get("/v1/events")).json()["data"]] == ["Deal.Created"]
