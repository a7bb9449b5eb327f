"""Input that used to answer 500 or poison later reads (issue #10, section 2) is refused at the boundary.

Each case was a 500, or a write that made every later read of the entity, of an events page and of
the event stream fail. Now: a 422 naming the field (413/414 for size) and nothing written.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import hubwire
from hubwire.api.limits import MAX_BODY_BYTES, MAX_URL_BYTES
from hubwire.nouns.filters import MAX_CONDITIONS, MAX_IN_VALUES
from hubwire.nouns.values import MAX_DEPTH
from tests.api.conftest import serve

PROBLEM = "application/problem+json"
HUGE = "1862420951040670302208"  # past 64 bits


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def cursor_of(value: Any, last_id: Any = "deal_x") -> str:
    return base64.urlsafe_b64encode(json.dumps([value, last_id]).encode()).decode().rstrip("=")


@pytest.fixture
def meeting() -> hubwire.Noun:
    return hubwire.Noun("Meeting", {"title": "string", "at": "datetime#"})


def assert_refused(r: httpx.Response, status: int = 422, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    if field is not None:
        assert field in {e["field"] for e in body["errors"]}, body
    return body


async def assert_nothing_written(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/deals")).json()["data"] == []
    events = (await client.get("/v1/events")).json()["data"]
    assert [e for e in events if e["entity_type"] == "Deal"] == []


async def test_lone_surrogates_are_refused_before_anything_is_written(client: httpx.AsyncClient) -> None:
    cases = {
        "name": b'{"name": "sur\\ud800rogate"}',
        "meta.k\\udc00ey": b'{"name": "x", "meta": {"k\\udc00ey": 1}}',
        "meta[1]": b'{"name": "x", "meta": [1, "\\ud83d"]}',
        "tags[1]": b'{"name": "x", "tags": ["ok", "\\udfff"]}',
        "k\\ud800": b'{"name": "x", "k\\ud800": 1}',
        # NUL is valid Unicode, but PostgreSQL's JSON cannot hold it: refused on both databases alike.
        "meta.nul": b'{"name": "x", "meta": {"nul": "a\\u0000b"}}',
    }
    for field, body in cases.items():
        r = await client.post("/v1/deals", content=body, headers={"content-type": "application/json"})
        problem = assert_refused(r, 422, field)
        assert "not storable text" in problem["detail"]
    await assert_nothing_written(client)
    # A valid pair (an emoji written as two escapes) is text, and reads back.
    ok = await client.post("/v1/deals", content=b'{"name": "\\ud83d\\ude00"}')
    assert ok.status_code == 201 and ok.json()["name"] == "\N{GRINNING FACE}"
    assert_refused(await client.get("/v1/deals", params={"filter": '{"name": "\\ud800"}'}), 422, "filter.name")
    assert_refused(await client.get("/v1/deals", params={"filter": '{"na\\ud800me": "x"}'}), 422, "filter.na\\ud800me")


async def test_lone_surrogates_in_python_raise_validation_error(deal: hubwire.Noun, hub: hubwire.Hub) -> None:
    for fields in (
        {"name": "sur\ud800rogate"},
        {"name": "x", "meta": {"a\udc00": 1}},
        {"name": "x", "tags": ["\ud800"]},
    ):
        with pytest.raises(hubwire.ValidationError) as err:
            await deal.create(**fields)
        assert err.value.code == "validation_error"
    with pytest.raises(hubwire.ValidationError):
        await deal.find({"name": {"$contains": "\ud800"}})
    assert await deal.count() == 0


async def test_one_nesting_limit_for_bodies_json_fields_and_filters(
    client: httpx.AsyncClient, deal: hubwire.Noun
) -> None:
    deepest = await client.post("/v1/deals", json={"name": "x", "meta": nested(MAX_DEPTH - 2)})
    assert deepest.status_code == 201, deepest.text
    assert (await client.get("/v1/events")).status_code == 200
    await client.delete(f"/v1/deals/{deepest.json()['$id']}")
    for depth in (MAX_DEPTH, 300):
        assert_refused(await client.post("/v1/deals", json={"name": "x", "meta": nested(depth)}), 422, "meta")
    # Far past the parser's own recursion limit: the same 422, not a RecursionError.
    deep_body = b'{"name": "x", "meta": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    assert_refused(await client.post("/v1/deals", content=deep_body), 422)
    deep_filter = '{"meta": ' + "[" * 1_300 + "]" * 1_300 + "}"
    assert_refused(await client.get("/v1/deals", params={"filter": deep_filter}), 422, "filter")
    deep_or = {"name": "x"}
    for _ in range(MAX_DEPTH + 5):
        deep_or = {"$or": [deep_or]}
    assert_refused(await client.get("/v1/deals", params={"filter": json.dumps(deep_or)}), 422)
    with pytest.raises(hubwire.ValidationError):
        await deal.create(name="x", meta=nested(300))
    assert (await client.get("/v1/events")).status_code == 200


async def test_numbers_and_datetimes_out_of_range(meeting: hubwire.Noun, client: httpx.AsyncClient) -> None:
    bad_bodies = [
        ("at", b'{"at": 1e300}'),
        ("at", b'{"at": -1e20}'),
        ("at", b'{"at": "0001-01-01T00:00:00+23:59"}'),
        ("at", b'{"at": "9999-12-31T23:59:59-01:00"}'),
        ("at", b'{"at": NaN}'),
    ]
    for field, body in bad_bodies:
        assert_refused(await client.post("/v1/meetings", content=body), 422, field)
    deal_bodies = [
        ("value", b'{"name": "x", "value": NaN}'),
        ("value", b'{"name": "x", "value": Infinity}'),
        ("value", b'{"name": "x", "value": 1e300}'),
        ("value", b'{"name": "x", "value": -1e20}'),
        ("seats", b'{"name": "x", "seats": ' + HUGE.encode() + b"}"),
        ("meta.n", b'{"name": "x", "meta": {"n": 1e300}}'),
        ("meta[0]", b'{"name": "x", "meta": [' + HUGE.encode() + b"]}"),
    ]
    for field, body in deal_bodies:
        assert_refused(await client.post("/v1/deals", content=body), 422, field)
    await assert_nothing_written(client)
    # The edges of the ranges are accepted, and read back.
    edge = await client.post("/v1/deals", json={"name": "x", "seats": 2**63 - 1, "value": -(2**63), "meta": [1e-300]})
    assert edge.status_code == 201, edge.text
    assert (await client.get(f"/v1/deals/{edge.json()['$id']}")).json()["seats"] == 2**63 - 1
    assert (await client.post("/v1/meetings", json={"at": "0001-01-01T23:59:00+23:59"})).status_code == 201
    assert (await client.get("/v1/events")).status_code == 200

    bad_filters = [
        {"at": {"$gte": 1e300}},
        {"at": "0001-01-01T00:00:00+23:59"},
        {"created_at": {"$gte": "0001-01-01T00:00:00+23:59"}},
        {"created_at": {"$lt": 1e300}},
        {"created_at": {"$lt": float("nan")}},
        {"version": int(HUGE)},
    ]
    for flt in bad_filters:
        assert_refused(await client.get("/v1/meetings", params={"filter": json.dumps(flt)}), 422)
    for flt in ({"seats": int(HUGE)}, {"value": {"$gt": 1e300}}, {"value": {"$in": [1, int(HUGE)]}}):
        assert_refused(await client.get("/v1/deals", params={"filter": json.dumps(flt)}), 422)
    assert_refused(await client.get("/v1/deals", params={"seats": HUGE}), 422, "seats")


async def test_integers_past_64_bits_in_ids_pages_cursors_and_last_event_id(client: httpx.AsyncClient) -> None:
    for method, path, kwargs in [
        ("GET", f"/v1/jobs/{HUGE}", {}),
        ("POST", f"/v1/jobs/{HUGE}/retry", {}),
        ("GET", "/v1/jobs", {"params": {"before": HUGE}}),
        ("GET", "/v1/events", {"params": {"after": HUGE}}),
        ("GET", "/v1/events/stream", {"params": {"after": HUGE}}),
        ("GET", "/v1/events/stream", {"headers": {"Last-Event-ID": HUGE}}),
        ("GET", "/v1/events/stream", {"headers": {"Last-Event-ID": "\N{DEVANAGARI DIGIT ONE}".encode()}}),
        ("GET", "/v1/deals", {"params": {"cursor": cursor_of(int(HUGE))}}),
    ]:
        r = await client.request(method, path, **kwargs)
        assert r.status_code in (404, 422), (path, kwargs, r.text)
        assert r.headers["content-type"] == PROBLEM


async def test_wrong_type_filters_and_cursors(client: httpx.AsyncClient, deal: hubwire.Noun) -> None:
    await client.post("/v1/deals", json={"name": "a"})
    filters: list[Any] = [
        {"id": {"a": 1}},
        {"id": {"$in": [1, None, [], {}]}},
        {"$id": 5},
        {"value": {"$in": [1, None]}},
        {"value": {"$in": [[], {}]}},
        {"name": {"$gt": {"a": 1}}},
        {"stage": {"$exists": {}}},
        {"tags": {"$contains": ["a"]}},
        {"$or": [{"name": "a"}] * (MAX_CONDITIONS + 1)},
    ]
    for flt in filters:
        assert_refused(await client.get("/v1/deals", params={"filter": json.dumps(flt)}), 422)
    # 1,000 siblings ("Expression tree is too large" on SQLite) and a long $in, through the Python API.
    with pytest.raises(hubwire.ValidationError, match=str(MAX_CONDITIONS)):
        await deal.find({"$or": [{"name": "a"}] * 1000})
    with pytest.raises(hubwire.ValidationError, match=str(MAX_IN_VALUES)):
        await deal.find({"name": {"$in": ["a"] * (MAX_IN_VALUES + 1)}})
    for cursor in (
        cursor_of({"a": 1}),
        cursor_of([1]),
        cursor_of("text"),
        cursor_of(1.5, {"id": 1}),
        cursor_of(None, 1),
    ):
        assert_refused(await client.get("/v1/deals", params={"cursor": cursor}), 422, "cursor")
    # sorted by name (text), a numeric cursor value is refused too (PostgreSQL cannot compare them)
    r = await client.get("/v1/deals", params={"sort": "name", "cursor": cursor_of(5)})
    assert_refused(r, 422, "cursor")
    # A cursor this API returned still works.
    await client.post("/v1/deals", json={"name": "b"})
    first = (await client.get("/v1/deals", params={"limit": 1, "sort": "name"})).json()
    second = await client.get("/v1/deals", params={"limit": 1, "sort": "name", "cursor": first["next_cursor"]})
    assert second.status_code == 200 and second.json()["data"][0]["name"] == "b"


async def test_bad_backoff_on_webhook_patch_is_a_422(
    client: httpx.AsyncClient, hub: hubwire.Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub, "settings", hub.settings.replace(allow_private_networks=True))
    r = await client.post(
        "/v1/integrations/connect", json={"provider": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["*"]}
    )
    assert r.status_code == 201, r.text
    wid = r.json()["$id"]
    config = r.json()["config"]
    for backoff in ({"base": "x"}, {"base": -1}, {"type": "linear", "max": "soon"}, {"factor": 1e300}):
        patched = await client.patch(f"/v1/integrations/{wid}", json={"config": {**config, "backoff": backoff}})
        assert_refused(patched, 422)
    assert (await client.get(f"/v1/integrations/{wid}")).json()["version"] == r.json()["version"]


async def test_body_limit_is_enforced_while_reading(client: httpx.AsyncClient) -> None:
    sent = 0
    chunk = b"x" * 65536

    async def hundred_megabytes() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(100 * 16):
            sent += len(chunk)
            yield chunk
        yield b'"}'

    # No Content-Length (chunked): counted while read, refused at the first chunk past the limit.
    r = await client.post("/v1/deals", content=hundred_megabytes())
    assert_refused(r, 413)
    assert sent <= MAX_BODY_BYTES + 2 * len(chunk)
    # A declared Content-Length over the limit is refused before anything is read, on every route.
    for path in ("/v1/deals", "/v1/webhooks/endpoints/integration_x/recover", "/v1/jobs/retry-dead"):
        big = await client.post(path, content=b"x" * (MAX_BODY_BYTES + 1))
        assert r.json()["code"] == "payload_too_large"
        assert_refused(big, 413)
    # Exactly the limit is still read (and judged on its content).
    padded = b'{"name": "' + b"x" * (MAX_BODY_BYTES - 13) + b'"}'
    assert len(padded) <= MAX_BODY_BYTES
    assert (await client.post("/v1/deals", content=padded)).status_code == 201
    await assert_nothing_written_but_one(client)


async def assert_nothing_written_but_one(client: httpx.AsyncClient) -> None:
    assert len((await client.get("/v1/deals")).json()["data"]) == 1


async def test_nul_in_a_url_is_a_422_on_every_route(client: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text: each of these was a 500 there.
    for url in (
        "/v1/deals/a%00b",
        "/v1/events?entity_id=a%00b",
        "/v1/jobs?kind=a%00",
        "/v1/webhooks/deliveries?endpoint=a%00",
    ):
        assert_refused(await client.get(url), 422, "url")


async def test_long_urls_are_414(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/deals", params={"name": "x" * MAX_URL_BYTES})
    body = assert_refused(r, 414)
    assert body["code"] == "uri_too_long"
    assert (await client.get("/v1/deals", params={"name": "x" * (MAX_URL_BYTES - 100)})).status_code == 200


async def test_long_urls_get_an_answer_from_a_real_server(app: FastAPI) -> None:
    # Under uvicorn (as `hubwire serve` runs): a long URL is our 414; one past uvicorn's own
    # buffer is uvicorn's 400. Either way an HTTP answer, never a reset connection.
    async with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        for length, statuses in ((MAX_URL_BYTES + 1000, {b"414"}), (200_000, {b"400", b"414"})):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v1/deals?x=" + b"a" * length + b" HTTP/1.1\r\nHost: hubwire.test\r\n\r\n")
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            assert status_line.split(b" ")[1] in statuses, (length, status_line)
