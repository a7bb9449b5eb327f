"""Property tests (Hypothesis) of entity values and the filter language over REST.

Whatever a client sends, the answer is an entity or a 4xx problem, never a 500; and anything
accepted can be read back (get), listed (a filter matching it finds it), exported as an event page
(``GET /v1/events``) and streamed (``/v1/events/stream``). Values are drawn wide on purpose (lone
surrogates, NUL, NaN, integers past 64 bits, far date-times, deep JSON) so that both sides of
the boundary are exercised. Deterministic (``derandomize``) with bounded example counts.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

import hubwire

PROPERTY_SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = {
    "label": "string#",
    "note": "text",
    "amount": "number#",
    "count": "integer#",
    "flag": "boolean#",
    "at": "datetime#",
    "kind": "A | B | C",
    "tags": "string[]",
    "data": "json",
}
# Every character, lone surrogates and NUL included (st.text leaves surrogates out by default).
texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 1e300, -1e20, 1e-300]),  # the edges
)
datetimes = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.floats(min_value=-1e12, max_value=1e12),
    texts,
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "label": texts,
    "note": texts,
    "amount": numbers,
    "count": numbers,
    "flag": st.booleans(),
    "at": datetimes,
    "kind": st.sampled_from(["A", "B", "C"]),
    "tags": st.lists(texts, min_size=1, max_size=3),
    "data": json_values,
}
DEEP: Any = 1
for _ in range(70):
    DEEP = [DEEP]
documents = st.fixed_dictionaries({}, optional=FIELD_VALUES)


@pytest.fixture
def sample() -> hubwire.Noun:
    return hubwire.Noun("Sample", FIELDS)


@pytest.fixture
def served(sample: hubwire.Noun, app: FastAPI) -> FastAPI:
    app.state.sse_poll_interval = 0.01
    return app


def body_of(doc: dict[str, Any]) -> bytes:
    # ASCII escapes: lone surrogates travel as \udXXX escapes, NaN as NaN, as a client would send them.
    return json.dumps(doc, ensure_ascii=True).encode()


def matching_filter(entity: dict[str, Any]) -> dict[str, Any]:
    """A filter on every filterable value of ``entity`` (json fields are not filterable)."""
    flt: dict[str, Any] = {"$id": entity["$id"]}
    for name in ("label", "note", "amount", "count", "flag", "at", "kind"):
        if entity.get(name) is not None:
            flt[name] = entity[name]
    if entity.get("tags"):
        flt["tags"] = {"$contains": entity["tags"][0]}
    return flt


def same(a: Any, b: Any) -> bool:
    """Equal JSON values, a float equal to the integer it comes back as (the same double).

    PostgreSQL's jsonb keeps a number's decimal digits: a double past 2^53 written as
    ``5.560472494350281e+16`` comes back as the integer ``55604724943502810``, which is not the
    double's exact value (…808) but names the same double. SQLite gives the float back.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or (isinstance(a, float) != isinstance(b, float) and float(a) == float(b))
    return type(a) is type(b) and a == b


def sse_events(text: str) -> list[dict[str, Any]]:
    # Lines end at \n only (SSE's own rule); str.splitlines would also cut at U+2028 inside a value.
    return [json.loads(line[len("data: ") :]) for line in text.split("\n") if line.startswith("data: ")]


@PROPERTY_SETTINGS
@example(doc={"label": "sur\ud800rogate"})  # the reproductions of issue #10, always tried first
@example(doc={"data": {"k": DEEP}})
@example(doc={"at": 1e300})
@example(doc={"count": 2**70})
@given(doc=documents)
async def test_accepted_values_read_list_export_and_stream(
    served: FastAPI, client: httpx.AsyncClient, doc: Any
) -> None:
    before = (await client.get("/v1/events", params={"types": "Sample.*", "limit": 1000})).json()["data"]
    created = await client.post("/v1/samples", content=body_of(doc), headers={"content-type": "application/json"})
    assert created.status_code in (201, 422), created.text
    note_event(f"create answered {created.status_code}")  # both sides are exercised (--hypothesis-show-statistics)
    if created.status_code == 422:
        assert created.json()["errors"], created.text  # the reason names the field
        after = (await client.get("/v1/events", params={"types": "Sample.*", "limit": 1000})).json()["data"]
        assert after == before  # nothing written
        return
    entity = created.json()
    eid = entity["$id"]

    got = await client.get(f"/v1/samples/{eid}")
    assert got.status_code == 200 and same(got.json(), entity), (got.json(), entity)

    listed = await client.get("/v1/samples", params={"filter": json.dumps(matching_filter(entity))})
    assert listed.status_code == 200, listed.text
    assert [e["$id"] for e in listed.json()["data"]] == [eid]

    page = await client.get("/v1/events", params={"entity_id": eid})
    assert page.status_code == 200, page.text
    (event,) = page.json()["data"]
    assert same(event["data"], entity), (event["data"], entity)

    stream = await client.get("/v1/events/stream", params={"after": event["seq"] - 1, "timeout": 0.05})
    assert stream.status_code == 200
    assert same(sse_events(stream.text)[0], event)


operators = st.sampled_from(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$contains", "$x"])
# Mostly names that exist (fields and the entity's own columns), so values reach the compiler.
keys = st.sampled_from([*FIELDS, "$id", "id", "created_at", "updated_at", "version", "nope"]) | texts
conditions = st.one_of(json_values, st.dictionaries(operators, json_values, min_size=1, max_size=2))
filters = st.recursive(
    st.dictionaries(keys, conditions, max_size=3),
    lambda inner: (
        st.dictionaries(st.sampled_from(["$and", "$or"]), st.lists(inner, max_size=3), max_size=1)
        | st.dictionaries(keys, conditions, max_size=2)
    ),
    max_leaves=8,
)


@settings(PROPERTY_SETTINGS, max_examples=100)  # a find is cheap: more examples
@example(flt={"id": {"a": 1}}, sort=None)  # the reproductions of issue #10, always tried first
@example(flt={"id": {"$in": [1, None, [], {}]}}, sort=None)
@example(flt={"count": 2**70}, sort=None)
@example(flt={"$or": [{"label": "a"}] * 150}, sort=None)
@example(flt={"at": "0001-01-01T00:00:00+23:59"}, sort=None)
@given(flt=filters, sort=st.sampled_from([None, "label", "-amount", "at", "-created_at", "data", "nope"]))
async def test_any_filter_is_a_page_or_a_422(served: FastAPI, client: httpx.AsyncClient, flt: Any, sort: Any) -> None:
    params = {"filter": json.dumps(flt, ensure_ascii=True)}
    if sort:
        params["sort"] = sort
    r = await client.get("/v1/samples", params=params)
    assert r.status_code in (200, 422), r.text
    note_event(f"find answered {r.status_code}")
    if r.status_code == 422:
        assert r.headers["content-type"] == "application/problem+json" and r.json()["errors"]
