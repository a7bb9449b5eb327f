"""The Mixpanel simulator driven by the official ``mixpanel`` client: track and import (service account
and project secret, buffered), Mixpanel's answers (400 with failed_records, 401, 413, 429), JSON and
newline-delimited bodies, and the distinctive 400 for requests that break Mixpanel's OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

import aiohttp
import pytest
from mixpanel import BufferedConsumer, Consumer, Mixpanel, MixpanelException, ServiceAccountCredentials

from hubwire.simulators.mixpanel import (
    DEFAULT_API_SECRET,
    DEFAULT_PROJECT_ID,
    DEFAULT_SERVICE_ACCOUNT,
    DEFAULT_TOKEN,
    MISMATCH,
    MixpanelSimulator,
)
from tests.simulators.analytics_fixtures import checked_mixpanel, require_spec

SPEC = "mixpanel/ingestion.openapi.yaml"
SERVICE_ACCOUNT = ServiceAccountCredentials(*DEFAULT_SERVICE_ACCOUNT, project_id=DEFAULT_PROJECT_ID)


def consumer(sim: MixpanelSimulator, **options: Any) -> Consumer:
    # The client builds https URLs from api_host; the simulator serves plain http, so name its endpoints.
    return Consumer(events_url=f"{sim.url}/track", import_url=f"{sim.url}/import", retry_limit=0, **options)


def record(event: str = "Order placed", **properties: Any) -> dict[str, Any]:
    return {
        "event": event,
        "properties": {"time": 1_700_000_000, "distinct_id": "ada", "$insert_id": "a1", **properties},
    }


async def post(
    sim: MixpanelSimulator, path: str, body: bytes, content_type: str = "application/json", **kw: Any
) -> Any:
    secret = base64.b64encode(f"{DEFAULT_API_SECRET}:".encode()).decode()
    headers = {"Content-Type": content_type, "Authorization": f"Basic {secret}", **kw.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}{path}", data=body, headers=headers, **kw) as r,
    ):
        return r.status, r.headers, await r.json()


async def test_track_and_import_through_the_mixpanel_client() -> None:
    require_spec(SPEC)
    async with checked_mixpanel() as sim:
        mp = Mixpanel(DEFAULT_TOKEN, consumer=consumer(sim, credentials=SERVICE_ACCOUNT))
        await asyncio.to_thread(mp.track, "ada", "Signed up", {"plan": "pro"})
        await asyncio.to_thread(mp.import_data, None, "ada", "Old order", 1_600_000_000, {"total": 42})
        legacy = Mixpanel(DEFAULT_TOKEN, consumer=consumer(sim))
        await asyncio.to_thread(
            legacy.import_data, None, "grace", "Old refund", 1_600_000_100, None, None, DEFAULT_API_SECRET
        )
        assert [(e.endpoint, e.event, e.properties["distinct_id"]) for e in sim.events] == [
            ("track", "Signed up", "ada"),
            ("import", "Old order", "ada"),
            ("import", "Old refund", "grace"),
        ]
        assert sim.events[0].properties["plan"] == "pro" and sim.events[1].properties["total"] == 42
        assert sim.events[1].properties["time"] == 1_600_000_000
        imports = sim.requests_to("POST", "/import")
        assert [r.param("project_id") for r in imports] == [DEFAULT_PROJECT_ID, None]
        assert [r.status for r in sim.requests] == [200, 200, 200]


async def test_buffered_consumer_sends_one_batch_per_flush() -> None:
    async with checked_mixpanel() as sim:
        buffered = BufferedConsumer(
            max_size=10, events_url=f"{sim.url}/track", import_url=f"{sim.url}/import", retry_limit=0
        )
        mp = Mixpanel(DEFAULT_TOKEN, consumer=buffered)
        for i in range(3):
            mp.track(f"user-{i}", "Viewed page")
        assert sim.requests == []
        await asyncio.to_thread(buffered.flush)
        assert len(sim.requests) == 1 and [e.properties["distinct_id"] for e in sim.events] == [
            "user-0",
            "user-1",
            "user-2",
        ]


async def test_bad_credentials_and_tokens_are_401() -> None:
    async with checked_mixpanel() as sim:
        wrong_project = ServiceAccountCredentials(*DEFAULT_SERVICE_ACCOUNT, project_id="999")
        for mp, secret in [
            (Mixpanel(DEFAULT_TOKEN, consumer=consumer(sim, credentials=wrong_project)), None),
            (Mixpanel(DEFAULT_TOKEN, consumer=consumer(sim)), "not-the-secret"),
        ]:
            with pytest.raises(MixpanelException, match="Invalid credentials"):
                await asyncio.to_thread(mp.import_data, None, "ada", "Old order", 1_600_000_000, None, None, secret)
        with pytest.raises(MixpanelException, match="Invalid project token"):
            await asyncio.to_thread(Mixpanel("wrong-token", consumer=consumer(sim)).track, "ada", "Signed up")
        async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/import", json=[record()]) as r:
            assert r.status == 401 and await r.json() == {
                "code": 401,
                "error": "Invalid credentials",
                "status": "Unauthorized",
            }
        assert sim.events == [] and [r.status for r in sim.requests] == [401, 401, 401, 401]


async def test_failed_records_ndjson_gzip_and_strict() -> None:
    async with checked_mixpanel() as sim:
        bad = record("Bad id", **{"$insert_id": "has spaces!"})
        status, _, answer = await post(sim, "/import", json.dumps([record(), bad]).encode())
        assert status == 400 and answer["num_records_imported"] == 1
        assert answer["failed_records"] == [
            {
                "index": 1,
                "insert_id": "has spaces!",
                "field": "properties.$insert_id",
                "message": "'properties.$insert_id' is invalid: must be 36 or fewer letters, digits or dashes",
            }
        ]
        status, _, answer = await post(sim, "/import?strict=0", json.dumps([bad, record()]).encode())
        assert (status, answer) == (200, {"code": 200, "num_records_imported": 1, "status": "OK"})
        ndjson = "\n".join(json.dumps(record(f"Line {i}")) for i in range(3)).encode()
        status, _, answer = await post(sim, "/import", ndjson, "application/x-ndjson")
        assert status == 200 and answer["num_records_imported"] == 3
        zipped = gzip.compress(ndjson)
        status, _, answer = await post(
            sim, "/import", zipped, "application/x-ndjson", headers={"Content-Encoding": "gzip"}
        )
        assert status == 200 and answer["num_records_imported"] == 3
        status, _, answer = await post(sim, "/import?strict=yes", json.dumps([record()]).encode())
        assert status == 400 and "strict must be 0 or 1" in answer["error"]
        status, _, answer = await post(sim, "/import", b"[{not json")
        assert status == 400 and answer["error"].startswith("unable to parse")
        assert [e.event for e in sim.events] == ["Order placed", "Order placed"] + [f"Line {i}" for i in range(3)] * 2


async def test_too_large_is_413_and_rate_limits_are_429() -> None:
    async with checked_mixpanel(max_bytes=2_000) as sim:
        status, _, answer = await post(sim, "/import", json.dumps([record(note="x" * 3_000)]).encode())
        assert status == 413 and answer == {
            "code": 413,
            "error": "request exceeds max limit of 2000 bytes",
            "status": "Request Entity Too Large",
        }
        sim.fail_next(1, status=429, retry_after=2)
        status, headers, answer = await post(sim, "/import", json.dumps([record()]).encode())
        assert status == 429 and headers["Retry-After"] == "2" and answer["status"] == "Too Many Requests"
        sim.fail_next(1, status=429)
        with pytest.raises(MixpanelException, match="rate limits"):
            await asyncio.to_thread(Mixpanel(DEFAULT_TOKEN, consumer=consumer(sim)).track, "ada", "Signed up")
        assert sim.events == [] and [r.status for r in sim.requests] == [413, 429, 429]


async def test_requests_breaking_the_description_get_the_distinctive_400() -> None:
    require_spec(SPEC)
    async with checked_mixpanel() as sim:
        no_insert_id = record()
        del no_insert_id["properties"]["$insert_id"]
        for body, expected in [
            ([no_insert_id], "'$insert_id' is a required property"),
            ([record(time="yesterday")], "'yesterday' is not of type 'integer'"),
            ([{**record(), "extra": 1}], "Additional properties are not allowed"),
            ([], "should be non-empty"),
        ]:
            status, _, answer = await post(sim, "/import", json.dumps(body).encode())
            assert status == 400 and answer["error"].startswith(MISMATCH), answer
            assert expected in answer["mismatches"][0], answer["mismatches"]
        assert len(sim.mismatches) == 4 and sim.events == []
        sim.mismatches.clear()


async def test_records_of_the_wrong_shape_are_failed_records_without_the_description() -> None:
    async with checked_mixpanel(check_spec=False) as sim:
        body = [{"event": "x", "properties": [1]}, "not an object", record(time=-5), {"properties": {}}]
        status, _, answer = await post(sim, "/import", json.dumps(body).encode())
        assert status == 400 and answer["num_records_imported"] == 0
        assert [(f["index"], f["field"]) for f in answer["failed_records"]] == [
            (0, "properties"),
            (1, "properties"),
            (2, "properties.time"),
            (3, "event"),
        ]
        assert sim.events == []
