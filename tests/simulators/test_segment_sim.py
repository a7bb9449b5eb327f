"""The Segment simulator driven by the official ``segment-analytics-python`` client: track and identify
(plain and gzipped), Segment's answers (400 for a batch over 500 KB or a message without an id, 401 for
an unknown write key), injected 429."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from hubwire.simulators.segment import DEFAULT_WRITE_KEY, SegmentSimulator
from tests.simulators.analytics_fixtures import checked_segment


def client(sim: SegmentSimulator, key: str = DEFAULT_WRITE_KEY, **options: Any) -> Client:
    return Client(key, host=sim.url, sync_mode=True, max_retries=0, **options)


async def post(sim: SegmentSimulator, path: str, body: Any, key: str = DEFAULT_WRITE_KEY) -> tuple[int, Any]:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}{path}", json=body, headers={"Authorization": f"Basic {auth}"}) as r,
    ):
        return r.status, await r.json()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
async def test_track_and_identify_through_the_segment_client(compressed: bool) -> None:
    async with checked_segment() as sim:
        analytics = client(sim, gzip=compressed)
        await asyncio.to_thread(analytics.track, "ada", "Order Completed", {"total": 42})
        await asyncio.to_thread(analytics.identify, "ada", {"email": "ada@example.com"})
        await asyncio.to_thread(analytics.track, event="Viewed Page", anonymous_id="anon-1")
        assert [(m.type, m.user_id, m.anonymous_id, m.event) for m in sim.messages] == [
            ("track", "ada", None, "Order Completed"),
            ("identify", "ada", None, None),
            ("track", None, "anon-1", "Viewed Page"),
        ]
        assert sim.messages[0].body["properties"] == {"total": 42} and sim.messages[0].message_id
        assert sim.messages[1].body["traits"] == {"email": "ada@example.com"}
        posts = sim.requests_to("POST", "/v1/batch")
        assert len(posts) == 3 and all(r.status == 200 for r in posts)
        assert all((r.headers.get("Content-Encoding") == "gzip") is compressed for r in posts)


async def test_single_message_endpoints() -> None:
    async with checked_segment() as sim:
        assert await post(sim, "/v1/track", {"userId": "ada", "event": "Signed Up"}) == (200, {"success": True})
        assert await post(sim, "/v1/identify", {"anonymousId": "anon-1", "traits": {"plan": "pro"}}) == (
            200,
            {"success": True},
        )
        assert [(m.type, m.event) for m in sim.messages] == [("track", "Signed Up"), ("identify", None)]


async def test_unknown_write_key_is_401_and_keeps_nothing() -> None:
    async with checked_segment() as sim:
        with pytest.raises(APIError) as err:
            await asyncio.to_thread(client(sim, "not-a-key").track, "ada", "Signed Up")
        assert err.value.status == 401 and err.value.message == "Invalid write key"
        async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/v1/batch", json={"batch": []}) as r:
            assert r.status == 401 and (await r.json())["success"] is False
        assert sim.messages == []


async def test_bad_batches_are_400_and_keep_nothing() -> None:
    async with checked_segment() as sim:
        good = {"type": "track", "event": "ok", "userId": "ada"}
        for body, expected in [
            ({"batch": [good, {"type": "track", "event": "no id"}]}, "needs a userId or an anonymousId"),
            ({"batch": [good, {"type": "track", "userId": "ada"}]}, "needs an event"),
            ({"batch": [good, {"type": "purchase", "userId": "ada"}]}, "unknown message type"),
            (
                {
                    "batch": [
                        good,
                        {"type": "track", "event": "big", "userId": "ada", "properties": {"x": "y" * 40_000}},
                    ]
                },
                "exceeds the limit of 32768 bytes",
            ),
            ({"batch": [{**good, "properties": {"x": "y" * 30_000}} for _ in range(20)]}, "Batch exceeds the limit"),
            ({"batch": good}, "batch must be an array"),
            ([good], "must be a JSON object"),
        ]:
            status, answer = await post(sim, "/v1/batch", body)
            assert status == 400 and answer["success"] is False and expected in answer["message"], answer
        assert sim.messages == []


async def test_injected_429_carries_retry_after() -> None:
    async with checked_segment() as sim:
        sim.fail_next(1, status=429, retry_after=3)
        with pytest.raises(APIError) as err:
            await asyncio.to_thread(client(sim).track, "ada", "Signed Up")
        assert err.value.status == 429 and err.value.response.headers["Retry-After"] == "3"
        await asyncio.to_thread(client(sim).track, "ada", "Signed Up")
        assert [r.status for r in sim.requests] == [429, 200] and len(sim.messages) == 1
