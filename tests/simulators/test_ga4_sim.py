"""The GA4 Measurement Protocol simulator: collection answers 204 whatever it gets and keeps only valid
requests; the debug endpoint says why a request would be dropped, in Google's validationMessages shape."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from hubwire.simulators.ga4 import DEFAULT_API_SECRET, DEFAULT_MEASUREMENT_ID, GA4Simulator

QUERY = {"measurement_id": DEFAULT_MEASUREMENT_ID, "api_secret": DEFAULT_API_SECRET}


async def post(sim: GA4Simulator, path: str, body: Any, **query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, bytes) else None
        async with http.post(
            f"{sim.url}{path}", params={**QUERY, **query}, json=None if data else body, data=data
        ) as r:
            return r.status, (await r.json() if r.status == 200 else await r.read())


async def test_a_valid_request_is_collected() -> None:
    body = {
        "client_id": "123.456",
        "user_id": "ada",
        "timestamp_micros": 1700000000000000,
        "user_properties": {"plan": {"value": "pro"}},
        "events": [{"name": "purchase", "params": {"value": 42.5, "currency": "EUR"}}, {"name": "page_view"}],
    }
    async with GA4Simulator() as sim:
        assert await post(sim, "/debug/mp/collect", body) == (200, {"validationMessages": []})
        assert await post(sim, "/mp/collect", body) == (204, b"")
        assert [(e.name, e.client_id, e.user_id) for e in sim.events] == [
            ("purchase", "123.456", "ada"),
            ("page_view", "123.456", "ada"),
        ]
        assert sim.events[0].params == {"value": 42.5, "currency": "EUR"}
        assert sim.events[0].timestamp_micros == 1700000000000000
        assert sim.events[0].user_properties == {"plan": "pro"}
        assert sim.dropped == []


@pytest.mark.parametrize(
    ("body", "query", "code"),
    [
        ({"events": [{"name": "x"}]}, {}, "VALUE_REQUIRED"),
        ({"client_id": "c", "events": []}, {}, "VALUE_REQUIRED"),
        ({"client_id": "c", "events": [{"name": "x"}] * 26}, {}, "EXCEEDED_MAX_ENTITIES"),
        ({"client_id": "c", "events": [{"name": "_private"}]}, {}, "NAME_INVALID"),
        ({"client_id": "c", "events": [{"name": "9lives"}]}, {}, "NAME_INVALID"),
        ({"client_id": "c", "events": [{"name": "x" * 41}]}, {}, "VALUE_OUT_OF_BOUNDS"),
        ({"client_id": "c", "events": [{"name": "session_start"}]}, {}, "NAME_RESERVED"),
        ({"client_id": "c", "events": [{"name": "x", "params": {"google_id": 1}}]}, {}, "NAME_RESERVED"),
        ({"client_id": "c", "events": [{"name": "x", "params": {"p": "v" * 101}}]}, {}, "VALUE_OUT_OF_BOUNDS"),
        (
            {"client_id": "c", "events": [{"name": "x", "params": {f"p{i}": i for i in range(26)}}]},
            {},
            "EXCEEDED_MAX_ENTITIES",
        ),
        (
            {"client_id": "c", "user_properties": {"user_id": {"value": "1"}}, "events": [{"name": "x"}]},
            {},
            "NAME_RESERVED",
        ),
        ({"client_id": "c", "timestamp_micros": "soon", "events": [{"name": "x"}]}, {}, "VALUE_INVALID"),
        ({"client_id": "c", "events": [{"name": "x"}]}, {"api_secret": "wrong"}, "VALUE_INVALID"),
        ({"client_id": "c", "events": [{"name": "x"}]}, {"measurement_id": "G-OTHER"}, "VALUE_INVALID"),
        (b"{not json", {}, "VALUE_INVALID"),
        ([{"client_id": "c"}], {}, "VALUE_INVALID"),
    ],
)
async def test_an_invalid_request_is_answered_204_dropped_and_explained_by_debug(
    body: Any, query: dict[str, str], code: str
) -> None:
    async with GA4Simulator() as sim:
        status, answer = await post(sim, "/debug/mp/collect", body, **query)
        assert status == 200 and code in [m["validationCode"] for m in answer["validationMessages"]], answer
        assert all({"fieldPath", "description", "validationCode"} <= set(m) for m in answer["validationMessages"])
        assert await post(sim, "/mp/collect", body, **query) == (204, b"")
        assert sim.events == [] and len(sim.dropped) == 1


async def test_an_oversized_body_is_dropped_unread() -> None:
    async with GA4Simulator() as sim:
        body = {"client_id": "c", "events": [{"name": "x", "params": {"p": "v" * 100}}], "pad": "x" * 140_000}
        assert await post(sim, "/mp/collect", body) == (204, b"")
        assert sim.events == [] and sim.dropped[0][1][0].code == "VALUE_OUT_OF_BOUNDS"


async def test_injected_faults_answer_in_googles_error_shape() -> None:
    async with GA4Simulator() as sim:
        sim.fail_next(1, status=429, retry_after=3)
        sim.fail_next(1, status=503)
        body = {"client_id": "c", "events": [{"name": "x"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sim.url}/mp/collect", params=QUERY, json=body) as r:
                assert r.status == 429 and r.headers["Retry-After"] == "3"
            async with http.post(f"{sim.url}/mp/collect", params=QUERY, json=body) as r:
                assert r.status == 503 and (await r.json())["error"]["code"] == 503
        assert await post(sim, "/mp/collect", body) == (204, b"")
        assert len(sim.events) == 1
