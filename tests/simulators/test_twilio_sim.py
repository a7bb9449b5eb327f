"""The Twilio simulator driven by the official ``twilio`` client (through a custom HTTP client, the
library's supported way to point it elsewhere): sending, fetching and paging messages, Basic auth
with the auth token or an API key, Twilio's error bodies, 429 with Retry-After, faults, status
callbacks verified with the library's ``RequestValidator``, and the distinctive 400 for requests
that break Twilio's OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from hubwire.simulators.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_API_KEY_SECRET,
    DEFAULT_API_KEY_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM,
    DEFAULT_SERVICE_SID,
    MISMATCH,
    TwilioSimulator,
)
from tests.simulators.messaging_fixtures import checked_twilio, require_spec

SPEC = "twilio/twilio_api_v2010.json"
TO = "+14155550100"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()}


class LoopbackHttpClient(TwilioHttpClient):
    """Twilio's HTTP client with its API host replaced by the simulator's address."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, url.replace("https://api.twilio.com", self.base_url), *args, **kwargs)


def client(sim: TwilioSimulator, username: str = DEFAULT_ACCOUNT_SID, password: str = DEFAULT_AUTH_TOKEN) -> Client:
    return Client(username, password, account_sid=DEFAULT_ACCOUNT_SID, http_client=LoopbackHttpClient(sim.url))


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The twilio client blocks: run it off the loop that serves the simulator."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@asynccontextmanager
async def callback_receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], str]]]]:
    """A loopback endpoint recording each status callback's form and X-Twilio-Signature."""
    received: list[tuple[dict[str, str], str]] = []

    async def handle(request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        received.append((form, request.headers.get("X-Twilio-Signature", "")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/status", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/twilio/status?order=1001", received
    finally:
        await runner.cleanup()


async def test_send_fetch_and_signed_status_callbacks_through_the_twilio_client() -> None:
    require_spec(SPEC)
    async with checked_twilio() as sim, callback_receiver() as (url, received):
        twilio = client(sim)
        sent = await call(twilio.messages.create, to=TO, from_=DEFAULT_FROM, body="Order shipped", status_callback=url)
        assert sent.sid.startswith("SM") and len(sent.sid) == 34 and sent.status == "queued"
        assert (sent.to, sent.from_, sent.body, sent.direction) == (TO, DEFAULT_FROM, "Order shipped", "outbound-api")
        await sim.settle()
        validator = RequestValidator(DEFAULT_AUTH_TOKEN)
        assert [form["MessageStatus"] for form, _ in received] == ["queued", "sent", "delivered"]
        for form, sig in received:
            assert validator.validate(url, form, sig), form
            assert form["MessageSid"] == sent.sid and form["AccountSid"] == DEFAULT_ACCOUNT_SID
        assert not RequestValidator("another-token").validate(url, received[0][0], received[0][1])
        fetched = await call(twilio.messages(sent.sid).fetch)
        assert fetched.status == "delivered" and fetched.date_sent is not None and fetched.error_code is None
        assert [c.status for c in sim.callbacks] == [204, 204, 204]


async def test_api_key_auth_and_failed_or_undelivered_fates() -> None:
    async with checked_twilio() as sim, callback_receiver() as (url, received):
        twilio = client(sim, DEFAULT_API_KEY_SID, DEFAULT_API_KEY_SECRET)
        sim.set_fate("+14155550101", "undelivered")
        sim.set_fate("+14155550102", "failed")
        for to in ("+14155550101", "+14155550102"):
            await call(
                twilio.messages.create,
                to=to,
                messaging_service_sid=DEFAULT_SERVICE_SID,
                body="x",
                status_callback=url,
            )
        await sim.settle()
        by_to: dict[str, list[tuple[str, str | None]]] = {}
        for form, sig in received:
            assert RequestValidator(DEFAULT_AUTH_TOKEN).validate(url, form, sig)
            assert form["MessagingServiceSid"] == DEFAULT_SERVICE_SID
            by_to.setdefault(form["To"], []).append((form["MessageStatus"], form.get("ErrorCode")))
        assert by_to["+14155550101"] == [("queued", None), ("sent", None), ("undelivered", "30003")]
        assert by_to["+14155550102"] == [("queued", None), ("failed", "30008")]
        assert {m["to"]: m["status"] for m in sim.messages} == {"+14155550101": "undelivered", "+14155550102": "failed"}


async def test_callbacks_never_leave_loopback() -> None:
    async with checked_twilio() as sim:
        await call(
            client(sim).messages.create, to=TO, from_=DEFAULT_FROM, body="x", status_callback="https://example.com/cb"
        )
        await sim.settle()
        assert [c.params["MessageStatus"] for c in sim.callbacks] == ["queued", "sent", "delivered"]
        assert {c.status for c in sim.callbacks} == {0}  # recorded, never sent


async def test_list_pages_newest_first_with_twilios_paging() -> None:
    require_spec(SPEC)
    async with checked_twilio() as sim:
        twilio = client(sim)
        for n in range(5):
            await call(
                twilio.messages.create, to=TO if n % 2 == 0 else "+14155550199", from_=DEFAULT_FROM, body=f"m{n}"
            )
        listed = await call(twilio.messages.list, page_size=2)
        assert [m.body for m in listed] == ["m4", "m3", "m2", "m1", "m0"]
        assert sum(1 for r in sim.requests if r.method == "GET") == 3  # pages of 2, followed by next_page_uri
        mine = await call(twilio.messages.list, to=TO, page_size=50)
        assert [m.body for m in mine] == ["m4", "m2", "m0"]
        page = await call(twilio.messages.page, page_size=2)
        assert page.next_page_url and "PageToken=PA" in page.next_page_url and "Page=1" in page.next_page_url
        # The simulator's answers match Twilio's description too.
        assert sim.spec is not None
        async with aiohttp.ClientSession(headers=BASIC) as http:
            path = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
            async with http.post(sim.url + path, data={"To": TO, "From": DEFAULT_FROM, "Body": "m5"}) as r:
                assert sim.spec.check_response("POST", path, [], r.status, await r.read()) == []
            for path, query in [
                (f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json", [("PageSize", "2")]),
                (f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/{sim.messages[0]['sid']}.json", []),
            ]:
                async with http.get(sim.url + path, params=query) as r:
                    body = await r.read()
                assert sim.spec.check_response("GET", path, query, r.status, body) == []


async def test_errors_are_twilios_body() -> None:
    async with checked_twilio() as sim:
        with pytest.raises(TwilioRestException) as err:
            await call(client(sim, password="wrong").messages.create, to=TO, from_=DEFAULT_FROM, body="x")
        assert (err.value.status, err.value.code) == (401, 20003)
        twilio = client(sim)
        for kwargs, code in [
            ({"to": "0155", "from_": DEFAULT_FROM, "body": "x"}, 21211),
            ({"to": TO, "from_": DEFAULT_FROM}, 21602),
            ({"to": TO, "body": "x"}, 21603),
            ({"to": TO, "from_": "+14155550000", "body": "x"}, 21606),
        ]:
            with pytest.raises(TwilioRestException) as err:
                await call(twilio.messages.create, **kwargs)
            assert (err.value.status, err.value.code) == (400, code), kwargs
        with pytest.raises(TwilioRestException) as err:
            await call(twilio.messages("SM" + "0" * 32).fetch)
        assert (err.value.status, err.value.code) == (404, 20404)
        url = f"{sim.url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
        async with aiohttp.ClientSession() as http, http.post(url, data={}) as r:
            assert r.status == 401
            assert await r.json() == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }
        assert sim.messages == []


async def test_faults_429_with_retry_after_5xx_and_slow() -> None:
    async with checked_twilio() as sim:
        url = f"{sim.url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
        sim.fail_next(1, status=429, retry_after=3)
        form = {"To": TO, "From": DEFAULT_FROM, "Body": "x"}
        async with aiohttp.ClientSession(headers=BASIC) as http, http.post(url, data=form) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "3"
            assert (await r.json())["code"] == 20429
        sim.fail_next(1, status=503)
        with pytest.raises(TwilioRestException) as err:
            await call(client(sim).messages.create, to=TO, from_=DEFAULT_FROM, body="x")
        assert err.value.status == 503
        sim.slow_next(1, delay=0.3)
        start = time.monotonic()
        await call(client(sim).messages.create, to=TO, from_=DEFAULT_FROM, body="x")
        assert time.monotonic() - start >= 0.3 and len(sim.messages) == 1


async def test_requests_breaking_the_description_get_the_distinctive_400() -> None:
    require_spec(SPEC)
    async with checked_twilio() as sim:
        url = f"{sim.url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
        async with aiohttp.ClientSession(headers=BASIC) as http:
            for form, expected in [
                ({"To": TO, "From": DEFAULT_FROM, "Body": "x", "StatusCalback": "http://127.0.0.1/"}, "StatusCalback"),
                ({"From": DEFAULT_FROM, "Body": "x"}, "To"),
                ({"To": TO, "MessagingServiceSid": "MG123", "Body": "x"}, "MessagingServiceSid"),
            ]:
                async with http.post(url, data=form) as r:
                    answer = json.loads(await r.read())
                assert r.status == 400 and answer["message"].startswith(MISMATCH), answer
                assert expected in answer["mismatches"][0]
            async with http.get(url, params={"Pagesize": "2"}) as r:
                assert r.status == 400 and "'Pagesize'" in (await r.json())["mismatches"][0]
        assert len(sim.mismatches) == 4 and sim.messages == []
        sim.mismatches.clear()
