"""The body of ``POST /v1/collect``: :func:`read_events` (msgspec's fast path, then the checks of
:func:`parse_events` for whatever it does not take) gives exactly what the checks alone give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubwire.analytics import AnalyticsEvent
from hubwire.api.routes import collect
from hubwire.api.routes.collect import MAX_EVENT_BYTES, parse_events, read_events
from hubwire.errors import ValidationError

NOW = 1_765_000_000.0
MISSING = object()

# Values near every edge the checks draw, valid or not, for each field of an event.
FIELDS: dict[str, list[Any]] = {
    "event": ["signup", " page view ", "", "   ", "x" * 200, "x" * 201, 5, None, ["a"], MISSING],
    "distinct_id": ["u_1", "", "x" * 200, "x" * 201, 7, None, {"a": 1}, MISSING],
    "properties": [{}, {"plan": "pro", "n": 1.5}, {"big": 10**30}, None, [], 0, "", [1], "text", MISSING],
    "timestamp": [
        "2026-12-06T15:00:00.123Z",
        "2026-12-06T15:00:00+02:00",
        "2026-12-06",
        "2026-12-06T15:00:00",
        "2026-12-06t15:00:00z",  # RFC 3339 allows lower case; ISO 8601 as Python reads it does not
        "2026-12-06 15:00:00Z",
        "2026-12-06T15:00:00.1234567Z",  # finer than a microsecond: rounded
        "9999-12-31T23:59:59.9999999Z",  # rounds past year 9999
        "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "2026-W49-7",
        "not a date",
        1_765_000_000,
        1.7e9,
        1e300,
        True,
        None,
        [],
        MISSING,
    ],
    "id": ["abc_DEF-1", "x" * 64, "x" * 65, "abc\n", "a b", "", 5, None, MISSING],
    "extra": ["kept out", MISSING],
}

event_st = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in FIELDS.items()}).map(
    lambda d: {k: v for k, v in d.items() if v is not MISSING}
)
body_st = st.one_of(
    event_st,
    st.lists(event_st, max_size=4),
    st.lists(event_st, max_size=4).map(lambda b: {"batch": b}),
    st.sampled_from([None, 5, "text", {"batch": None}, {"batch": 5}, {"batch": [5]}, {"batch": {}}]),
)


def outcome(read: Any) -> Any:
    """The events of one way of reading a body, each with its id apart (ids made up differ), or its errors."""
    try:
        events: list[AnalyticsEvent] = read()
    except ValidationError as err:
        return ("refused", [(e.field, e.code) for e in err.errors])
    return [(e.id, msgspec.structs.replace(e, id="")) for e in events]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=body_st, default_id=st.sampled_from([None, "anon_1"]))
def test_the_fast_path_accepts_and_builds_what_the_checks_do(body: Any, default_id: str | None) -> None:
    raw = msgspec.json.encode(body)
    kw: dict[str, Any] = {"now": NOW, "max_events": 3, "default_id": default_id}
    fast = outcome(lambda: read_events(raw, **kw))
    checked = outcome(lambda: parse_events(msgspec.json.decode(raw), size=len(raw), **kw))
    if not isinstance(checked, list):
        assert fast == checked
        return
    assert isinstance(fast, list), (body, fast)
    assert [e for _id, e in fast] == [e for _id, e in checked]
    items = body["batch"] if isinstance(body, dict) and "batch" in body else body if isinstance(body, list) else [body]
    for (fast_id, _), (checked_id, _), item in zip(fast, checked, items, strict=True):
        if isinstance(item.get("id"), str):  # given: kept, prefixed
            assert fast_id == checked_id == "col_" + item["id"]
        else:  # made up, of the same kind
            assert fast_id.startswith("col_") and checked_id.startswith("col_")


def test_valid_bodies_take_the_fast_path_and_others_get_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[Any] = []
    real = collect.parse_events

    def counting(body: Any, **kw: Any) -> list[AnalyticsEvent]:
        checked.append(body)
        return real(body, **kw)

    monkeypatch.setattr(collect, "parse_events", counting)
    ok = {"event": "signup", "distinct_id": "u_1", "timestamp": "2026-12-06T15:00:00Z", "id": "e1"}
    events = read_events(msgspec.json.encode({"batch": [ok, {**ok, "id": "e2"}]}), now=NOW, max_events=10)
    at = datetime(2026, 12, 6, 15, tzinfo=UTC).timestamp()
    assert [(e.id, e.name, e.distinct_id, e.timestamp) for e in events] == [
        ("col_e1", "signup", "u_1", at),
        ("col_e2", "signup", "u_1", at),
    ]
    assert checked == []  # the fast path took it
    # `properties: []` is read as no properties by the checks (the fast path's shape has no room for it)
    odd = read_events(msgspec.json.encode({**ok, "properties": []}), now=NOW, max_events=10)
    assert odd[0].properties == {} and len(checked) == 1
    with pytest.raises(ValidationError) as err:
        read_events(b'{"event": "  ", "distinct_id": "u"}', now=NOW, max_events=10)
    assert [e.field for e in err.value.errors] == ["event"]
    with pytest.raises(ValidationError) as err:
        read_events(b"[" * 5000 + b"]" * 5000, now=NOW, max_events=10)
    assert [e.code for e in err.value.errors] == ["invalid_json"]
    # Over MAX_EVENT_BYTES a body is checked event by event, each event's size measured.
    big = {"event": "e", "distinct_id": "u", "properties": {"blob": "x" * MAX_EVENT_BYTES}}
    with pytest.raises(ValidationError) as err:
        read_events(msgspec.json.encode([ok, big]), now=NOW, max_events=10)
    assert [(e.field, e.code) for e in err.value.errors] == [("batch[1]", "too_large")]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-12-06T15:00:00Z", datetime(2026, 12, 6, 15, tzinfo=UTC)),
        ("2026-12-06t15:00:00z", datetime(2026, 12, 6, 15, tzinfo=UTC)),  # RFC 3339 allows lower case
        ("2026-12-06T17:00:00+02:00", datetime(2026, 12, 6, 15, tzinfo=UTC)),
        ("2026-12-06T15:00:00", datetime(2026, 12, 6, 15, tzinfo=UTC)),  # no offset: UTC
        ("2026-12-06", datetime(2026, 12, 6, tzinfo=UTC)),  # ISO 8601, not RFC 3339: read all the same
        ("2026-12-06T15:00:00.0000015Z", datetime(2026, 12, 6, 15, 0, 0, 2, tzinfo=UTC)),  # rounded
        (1_796_569_200, datetime(2026, 12, 6, 15, tzinfo=UTC)),  # epoch seconds
    ],
)
def test_timestamps_are_read_as_rfc_3339_or_iso_8601(sent: Any, expected: datetime) -> None:
    body = msgspec.json.encode({"event": "e", "distinct_id": "u", "timestamp": sent})
    assert read_events(body, now=NOW, max_events=1)[0].timestamp == expected.timestamp()


@pytest.mark.parametrize("sent", ["not a date", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", True, 1e300])
def test_a_timestamp_outside_years_1_to_9999_or_not_one_is_refused(sent: Any) -> None:
    body = msgspec.json.encode({"event": "e", "distinct_id": "u", "timestamp": sent})
    with pytest.raises(ValidationError) as err:
        read_events(body, now=NOW, max_events=1)
    assert [(e.field, e.code) for e in err.value.errors] == [("timestamp", "type")]
