"""The PostHog simulator driven by the official ``posthog`` client: capture and person properties
(plain and gzipped), PostHog's error bodies (400 malformed, 401 unknown project key), injected 429."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import aiohttp
import pytest
from posthog import Posthog
from posthog.request import APIError

from hubwire.simulators.posthog import DEFAULT_PROJECT_KEY, PostHogSimulator
from tests.simulators.analytics_fixtures import checked_posthog


def client(sim: PostHogSimulator, key: str = DEFAULT_PROJECT_KEY, **options: Any) -> Posthog:
    # debug: the client raises what the simulator answered instead of only logging it
    return Posthog(key, host=sim.url, sync_mode=True, max_retries=0, debug=True, **options)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
async def test_capture_and_set_through_the_posthog_client(compressed: bool) -> None:
    async with checked_posthog() as sim:
        ph = client(sim, gzip=compressed)
        await asyncio.to_thread(ph.capture, "order placed", distinct_id="ada", properties={"total": 42})
        await asyncio.to_thread(ph.set, distinct_id="ada", properties={"email": "ada@example.com"})
        assert [(e.event, e.distinct_id) for e in sim.events] == [("order placed", "ada"), ("$set", "ada")]
        placed, person = sim.events
        assert placed.properties["total"] == 42 and placed.uuid and placed.timestamp
        assert person.properties["$set"] == {"email": "ada@example.com"}
        assert {e.project_key for e in sim.events} == {DEFAULT_PROJECT_KEY}
        posts = sim.requests_to("POST", "/batch/")
        assert len(posts) == 2 and all(r.status == 200 for r in posts)
        assert all((r.headers.get("Content-Encoding") == "gzip") is compressed for r in posts)


async def test_unknown_project_key_is_401_and_keeps_nothing() -> None:
    async with checked_posthog() as sim:
        with pytest.raises(APIError) as err:
            await asyncio.to_thread(client(sim, "phc_unknown").capture, "signed up", distinct_id="ada")
        assert err.value.status == 401 and "Project API key invalid" in err.value.message
        no_key = {"event": "x", "distinct_id": "ada"}
        async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/capture/", json=no_key) as r:
            assert r.status == 401 and (await r.json())["code"] == "invalid_api_key"
        assert sim.events == []


async def test_malformed_bodies_are_400_and_keep_nothing() -> None:
    async with checked_posthog() as sim, aiohttp.ClientSession() as http:
        good = {"event": "ok", "properties": {"distinct_id": "ada"}}
        for path, body in [
            ("/batch/", b"not json"),
            ("/batch/", json.dumps([good]).encode()),
            ("/batch/", json.dumps({"api_key": DEFAULT_PROJECT_KEY, "batch": [good, {"event": "no id"}]}).encode()),
            ("/batch/", json.dumps({"api_key": DEFAULT_PROJECT_KEY, "batch": [good, {"properties": {}}]}).encode()),
            ("/i/v0/e/", json.dumps({"api_key": DEFAULT_PROJECT_KEY, "batch": []}).encode()),
        ]:
            async with http.post(f"{sim.url}{path}", data=body) as r:
                answer = await r.json()
                assert r.status == 400 and answer["type"] == "validation_error", (body, answer)
        assert sim.events == []
        single = {"api_key": DEFAULT_PROJECT_KEY, **good}
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        zipped = gzip.compress(json.dumps(single).encode())
        async with http.post(f"{sim.url}/i/v0/e/", data=zipped, headers=headers) as r:
            assert r.status == 200 and await r.json() == {"status": 1}
        assert [(e.event, e.distinct_id) for e in sim.events] == [("ok", "ada")]
        # Said to be gzip and is not: a 400 from the shared base (LoopbackSimulator), never a 500.
        async with http.post(f"{sim.url}/batch/", data=b"not gzip at all", headers=headers) as r:
            assert r.status == 400 and "Content-Encoding" in await r.text()
        assert len(sim.events) == 1


async def test_injected_429_carries_retry_after_and_keeps_nothing() -> None:
    async with checked_posthog() as sim:
        ph = client(sim)
        sim.fail_next(1, status=429, retry_after=3)
        with pytest.raises(APIError) as err:
            await asyncio.to_thread(ph.capture, "order placed", distinct_id="ada")
        assert err.value.status == 429
        assert sim.events == [] and sim.requests[-1].headers.get("Content-Type") == "application/json"
        await asyncio.to_thread(ph.capture, "order placed", distinct_id="ada")
        assert [r.status for r in sim.requests] == [429, 200] and len(sim.events) == 1
