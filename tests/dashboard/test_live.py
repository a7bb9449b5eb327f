"""The dashboard's live parts over real HTTP (uvicorn on loopback): a sync run's progress streamed
until the run ends, the event stream as table rows resuming from ``Last-Event-ID``, a webhook
delivery's retries and a received webhook being applied (the lists and the single pages) until they
settle, the session and scope they need, and a server that stops at once with a stream open."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import hubwire
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.domains.platform import Integration
from hubwire.inbound import list_received
from hubwire.jobs.worker import Worker
from hubwire.simulators.stripe import StripeSimulator
from hubwire.sync.runs import list_runs
from hubwire.webhooks import get_delivery, list_deliveries
from tests.api.conftest import serve
from tests.fakes import deal_noun
from tests.webhooks.conftest import Receiver, receiver

__all__ = ["receiver"]  # the fixture, from the webhooks tests

KEY = "sk_test_hubwire"


@dataclass
class Message:
    event: str
    data: str
    id: str | None


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """The Server-Sent Events of a streamed response, as the EventSource of a browser reads them."""
    event, data, ident = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Message(event, "\n".join(data), ident)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                ident = value


async def follow(client: httpx.AsyncClient, path: str, opened: asyncio.Semaphore) -> list[Message]:
    """Every message of the stream at ``path`` until the server ends it; ``opened`` released at the first."""
    got: list[Message] = []
    async with client.stream("GET", path) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        async for message in messages(stream):
            got.append(message)
            if len(got) == 1:
                opened.release()
    return got


@contextlib.asynccontextmanager
async def signed_in(base: str, hub: hubwire.Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client over real HTTP with a read key's session cookie."""
    _, key = await create_api_key(hub, "read-live", "read")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        r = await client.post("/signin", data={"api_key": key, "next": "/"})
        assert r.status_code == 303, r.text
        yield client


@pytest.fixture
async def served(hub: hubwire.Hub) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(hub, workers=0)  # the tests run the jobs themselves, when they choose
    app.state.sse_poll_interval = 0.02
    async with serve(app) as base:
        yield app, base


async def test_a_syncs_progress_streams_until_the_run_ends(
    hub: hubwire.Hub, served: tuple[FastAPI, str], stripe_sim: StripeSimulator
) -> None:
    _, base = served
    stripe_sim.seed_many("customer", 250)  # three pages of 100
    integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=stripe_sim.url)
    async with signed_in(base, hub) as client:
        page = await client.get(f"/integrations/{integ.id}")
        assert f'data-live="/integrations/{integ.id}/live"' in page.text  # the initial sync is due

        swaps: list[str] = []
        async with client.stream("GET", f"/integrations/{integ.id}/live") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            got = messages(stream)
            first = await anext(got)
            # Nothing ran yet: the page says a sync is queued (the state it was loaded in).
            assert first.event == "swap" and "A sync is queued." in first.data
            assert 'id="summary"' in first.data and 'id="runs"' in first.data

            # Each page at Stripe takes a while: the stream shows the run while it is running.
            stripe_sim.fail_next(40, status=None, delay=0.05)
            worker = asyncio.create_task(Worker(hub, name="live").drain())
            async for message in got:
                if message.event == "end":
                    break
                assert message.event == "swap"
                swaps.append(message.data)
            rest = [m async for m in got]  # the server closes the stream after "end"
        await worker
    assert rest == []
    (run,) = await list_runs(hub, integ.id)
    assert run.status == "succeeded" and run.records >= 250 and run.pages >= 3
    assert any("Syncing:" in s and "run-running" in s for s in swaps), "the running run was never shown"
    final = swaps[-1]
    assert 'class="run-succeeded"' in final
    assert f"Last run succeeded: {run.records} records in {run.pages} pages." in final
    # Counts only grow while a run goes on.
    shown = [int(n) for s in swaps for n in re.findall(r"Syncing: (\d+) record", s)]
    assert shown == sorted(shown)


async def test_a_stream_of_an_idle_integration_sends_its_state_and_ends(
    hub: hubwire.Hub, served: tuple[FastAPI, str]
) -> None:
    _, base = served
    integ = await Integration.create(name="Quiet", provider="webhook", status="Disconnected")
    async with signed_in(base, hub) as client:
        page = await client.get(f"/integrations/{integ.id}")
        assert page.status_code == 200 and "data-live" not in page.text  # nothing to follow
        async with client.stream("GET", f"/integrations/{integ.id}/live") as stream:
            got = [m async for m in messages(stream)]
    assert [m.event for m in got] == ["swap", "end"] and "No sync yet." in got[0].data


async def test_the_event_stream_sends_new_events_as_rows_and_resumes(
    hub: hubwire.Hub, served: tuple[FastAPI, str]
) -> None:
    _, base = served
    Deal = deal_noun()
    await Deal.create(name="Before", value=1)
    async with signed_in(base, hub) as client:
        page = await client.get("/events?type=Deal.")
        found = re.search(r'data-live="/events/live\?after=(\d+)&amp;type=Deal\."', page.text)
        assert found, page.text
        after = int(found.group(1))
        assert "Before" not in page.text and after > 0
        async with client.stream("GET", f"/events/live?after={after}&type=Deal.") as stream:
            got = messages(stream)
            await Integration.create(name="Not a deal", provider="webhook")  # filtered out
            made = await Deal.create(name="Live", value=2)
            message = await anext(got)
        assert message.event == "prepend" and message.data.startswith('<tbody id="event-rows">')
        assert made.id in message.data and "Deal.Created" in message.data and "Integration" not in message.data
        seq = int(message.id or 0)
        assert seq > after

        # EventSource reconnects with Last-Event-ID: only what came after it.
        later = await Deal.create(name="Later", value=3)
        async with client.stream("GET", "/events/live?after=0&type=Deal.", headers={"Last-Event-ID": str(seq)}) as s:
            resumed = await anext(messages(s))
        assert later.id in resumed.data and made.id not in resumed.data

        bad = await client.get("/events/live", headers={"Last-Event-ID": "nope"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.text


async def test_a_failing_delivery_streams_each_retry_until_it_is_dead(hub: hubwire.Hub, receiver: Receiver) -> None:
    await Integration.connect(
        provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], schedule=[0.3, 0.3], max_attempts=3
    )
    await deal_noun().create(name="Refused", value=1)
    (queued,) = await list_deliveries(hub)
    app = create_app(hub, workers=0)
    app.state.sse_poll_interval = 0.02
    async with serve(app) as base, signed_in(base, hub) as client:
        page = await client.get(f"/webhooks/deliveries/{queued.id}")
        assert f'data-live="/webhooks/deliveries/{queued.id}/live"' in page.text and "hx-trigger" not in page.text
        listed = await client.get("/webhooks")
        assert 'data-live="/webhooks/live?status="' in listed.text

        opened = asyncio.Semaphore(0)
        one = asyncio.create_task(follow(client, f"/webhooks/deliveries/{queued.id}/live", opened))
        rows = asyncio.create_task(follow(client, "/webhooks/live", opened))
        for _ in range(2):  # both streams sent the state the page was loaded in
            await asyncio.wait_for(opened.acquire(), 10)
        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(hub, name="live").run(stop))
        try:
            got, listing = await asyncio.wait_for(asyncio.gather(one, rows), 30)
        finally:
            stop.set()
            await worker
    delivery = await get_delivery(hub, queued.id)
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert [m.event for m in got][-1] == "end" and all(m.event == "swap" for m in got[:-1])
    assert "No attempt yet." in got[0].data and 'id="delivery"' in got[0].data
    # Each attempt arrived as it happened: the rows of the attempts table grow one by one to three.
    counts = [m.data.count("internal error at the receiver") for m in got[:-1]]
    assert {1, 2, 3} <= set(counts) and counts == sorted(counts), counts
    assert any("badge-failed" in m.data for m in got), "the delivery waiting for its retry was never shown"
    assert "badge-dead" in got[-2].data and "Resend" in got[-2].data
    assert listing[-1].event == "end" and f'/webhooks/deliveries/{queued.id}"' in listing[-2].data
    assert "badge-dead" in listing[-2].data and 'id="delivery-rows"' in listing[-2].data
    assert len(receiver.on("/fail")) == 3


async def test_a_received_webhook_streams_until_it_is_applied(
    hub: hubwire.Hub, served: tuple[FastAPI, str], stripe_sim: StripeSimulator
) -> None:
    _, base = served
    hub.settings = hub.settings.replace(public_url=base)  # Stripe posts its webhooks to this server
    (customer,) = stripe_sim.seed_many("customer", 1)
    integ = await Integration.connect(provider="stripe", api_key=KEY, api_base_url=stripe_sim.url)
    await Worker(hub, name="sync").drain()  # the initial sync
    async with httpx.AsyncClient(base_url=stripe_sim.url, auth=(KEY, "")) as http:
        r = await http.post(f"/v1/customers/{customer['id']}", data={"name": "Renamed at Stripe"})
        assert r.status_code == 200, r.text
    await stripe_sim.sender.idle()
    (hook,) = await list_received(hub, integration_id=integ.id)
    assert hook.status == "received"  # no worker in this server: it waits
    async with signed_in(base, hub) as client:
        page = await client.get(f"/inbound/{hook.id}")
        assert f'data-live="/inbound/{hook.id}/live"' in page.text and "hx-trigger" not in page.text
        listed = await client.get(f"/inbound?integration={integ.id}")
        assert f'data-live="/inbound/rows/live?status=&amp;integration={integ.id}&amp;event_type="' in listed.text

        opened = asyncio.Semaphore(0)
        one = asyncio.create_task(follow(client, f"/inbound/{hook.id}/live", opened))
        rows = asyncio.create_task(follow(client, f"/inbound/rows/live?integration={integ.id}", opened))
        for _ in range(2):
            await asyncio.wait_for(opened.acquire(), 10)
        await Worker(hub, name="apply").drain()
        got, listing = await asyncio.wait_for(asyncio.gather(one, rows), 30)
        # Settled: nothing to follow any more, the pages say so.
        assert "data-live" not in (await client.get(f"/inbound/{hook.id}")).text
        assert "data-live" not in (await client.get(f"/inbound?integration={integ.id}")).text
    for stream, element in ((got, 'id="received"'), (listing, 'id="inbound-rows"')):
        assert [m.event for m in stream][-1] == "end" and all(m.event == "swap" for m in stream[:-1]), stream
        assert element in stream[0].data and "badge-received" in stream[0].data
        assert "badge-applied" in stream[-2].data and "badge-received" not in stream[-2].data


async def test_the_streams_need_a_session(hub: hubwire.Hub, served: tuple[FastAPI, str]) -> None:
    _, base = served
    _, key = await create_api_key(hub, "bearer-only", "admin")
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for path in (
            "/events/live",
            "/integrations/integration_x/live",
            "/webhooks/live",
            "/webhooks/deliveries/msg_x/live",
            "/inbound/rows/live",
            "/inbound/hook_x/live",
        ):
            r = await client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    async with signed_in(base, hub) as client:
        for path in ("/integrations/integration_nope/live", "/webhooks/deliveries/msg_nope/live", "/inbound/nope/live"):
            r = await client.get(path)
            assert r.status_code == 404 and "text/html" in r.headers["content-type"], path


async def test_the_server_stops_at_once_with_a_stream_open(hub: hubwire.Hub) -> None:
    app = create_app(hub, workers=0)
    app.state.sse_poll_interval = 0.02
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done()
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    opened = asyncio.Event()
    async with signed_in(base, hub) as client:

        async def listen() -> list[Message]:
            seen = []
            async with client.stream("GET", "/events/live") as stream:
                async for message in messages(stream):
                    seen.append(message)
                    opened.set()
            return seen

        listener = asyncio.create_task(listen())
        await deal_noun().create(name="Seen", value=1)
        await asyncio.wait_for(opened.wait(), 10)
        server.should_exit = True  # what SIGTERM or Ctrl-C does
        # uvicorn stops though the stream had minutes left of its own, and the browser's side ends cleanly.
        await asyncio.wait_for(serving, 10)
        assert [m.event for m in await asyncio.wait_for(listener, 5)] == ["prepend"]
