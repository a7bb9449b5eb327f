"""The Sentry simulator driven by the official ``sentry-sdk`` pointed at its DSN: errors, messages and
transactions arrive as envelopes; keys, projects and malformed envelopes are refused in Sentry's shape;
an injected 429 with ``X-Sentry-Rate-Limits`` is honoured by the SDK."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import pytest
import sentry_sdk

from hubwire.simulators.sentry import DEFAULT_PROJECT, DEFAULT_PUBLIC_KEY, SentrySimulator


@contextmanager
def sdk(dsn: str, **options: object) -> Iterator[sentry_sdk.Client]:
    client = sentry_sdk.Client(dsn, default_integrations=False, **options)  # type: ignore[arg-type]
    scope = sentry_sdk.get_isolation_scope()
    previous = scope.client
    scope.set_client(client)
    try:
        yield client
    finally:
        client.flush(timeout=5)
        client.close(timeout=5)
        scope.set_client(previous)


def raise_and_capture() -> None:
    try:
        {}["missing"]
    except KeyError:
        sentry_sdk.capture_exception()


async def test_errors_and_messages_arrive_through_the_official_sdk() -> None:
    async with SentrySimulator() as sim:

        def send() -> None:
            with sdk(sim.dsn(), release="hubwire@1.0", environment="test", traces_sample_rate=1.0):
                raise_and_capture()
                sentry_sdk.capture_message("order shipped", level="info")
                with sentry_sdk.start_transaction(name="checkout"):
                    pass

        await asyncio.to_thread(send)
        error, message = sim.events()
        assert error["exception"]["values"][0]["type"] == "KeyError"
        assert error["release"] == "hubwire@1.0" and error["environment"] == "test"
        assert message["message"] == "order shipped" and message["level"] == "info"
        assert [i.json()["transaction"] for i in sim.items if i.type == "transaction"] == ["checkout"]
        posts = sim.requests_to("POST", f"/api/{DEFAULT_PROJECT}/envelope/")
        assert posts and all(r.status == 200 for r in posts)
        assert all("sentry_key=" + DEFAULT_PUBLIC_KEY in r.headers["X-Sentry-Auth"] for r in posts)


async def test_a_wrong_key_or_project_keeps_nothing() -> None:
    async with SentrySimulator() as sim:
        wrong_key = sim.dsn().replace(DEFAULT_PUBLIC_KEY, "f" * 32)
        other_project = sim.dsn().rsplit("/", 1)[0] + "/999"

        def send() -> None:
            for dsn in (wrong_key, other_project):
                with sdk(dsn):
                    sentry_sdk.capture_message("lost")

        await asyncio.to_thread(send)
        assert sim.items == []
        assert {r.status for r in sim.requests} == {403, 404}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json\n", "envelope header is not JSON"),
        (b"{}\n", "no items"),
        (b'{}\n{"length": 2}\nhi\n', "no type"),
        (b'{}\n{"type": "event", "length": 99}\n{}\n', "does not fit"),
        (b"[]\n", "not an object"),
    ],
)
async def test_malformed_envelopes_are_400_and_keep_nothing(body: bytes, detail: str) -> None:
    async with SentrySimulator() as sim, aiohttp.ClientSession() as http:
        url = f"{sim.url}/api/{DEFAULT_PROJECT}/envelope/?sentry_key={DEFAULT_PUBLIC_KEY}"
        async with http.post(url, data=body) as r:
            assert r.status == 400 and detail in (await r.json())["detail"]
        assert sim.items == []


async def test_envelopes_without_lengths_gzipped_and_keyed_by_the_dsn_header_are_read() -> None:
    event = json.dumps({"event_id": "a" * 32, "message": "hi"}).encode()
    async with SentrySimulator() as sim, aiohttp.ClientSession() as http:
        header = json.dumps({"event_id": "a" * 32, "dsn": sim.dsn()}).encode()
        body = header + b"\n" + b'{"type":"event"}\n' + event + b"\n" + b'{"type":"session"}\n{"sid":"s"}'
        url = f"{sim.url}/api/{DEFAULT_PROJECT}/envelope/"
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"}
        async with http.post(url, data=gzip.compress(body), headers=headers) as r:
            assert r.status == 200 and await r.json() == {"id": "a" * 32}
        assert [i.type for i in sim.items] == ["event", "session"] and sim.events()[0]["message"] == "hi"
        # the legacy store endpoint, keyed in the query
        async with http.post(f"{sim.url}/api/{DEFAULT_PROJECT}/store/", data=event) as r:
            assert r.status == 401
        store = f"{sim.url}/api/{DEFAULT_PROJECT}/store/"
        async with http.post(store, params={"sentry_key": DEFAULT_PUBLIC_KEY}, data=event) as r:
            assert r.status == 200
        assert len(sim.events()) == 2


async def test_a_rate_limit_is_honoured_by_the_sdk() -> None:
    """After a 429 with ``X-Sentry-Rate-Limits``, the SDK sends nothing more until the limit expires: the
    simulator's header is in the form the SDK reads."""
    async with SentrySimulator() as sim:
        sim.fail_next(1, status=429, retry_after=60)

        def send() -> None:
            with sdk(sim.dsn()) as client:
                sentry_sdk.capture_message("first")
                client.flush(timeout=5)
                sentry_sdk.capture_message("second")
                client.flush(timeout=5)
            with sdk(sim.dsn()):  # a new client has no limit to honour
                sentry_sdk.capture_message("third")

        await asyncio.to_thread(send)
        assert [r.status for r in sim.requests] == [429, 200]
        assert [e["message"] for e in sim.events()] == ["third"]
