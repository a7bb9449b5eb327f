"""The destinations' wire formats: pure functions of the events."""

from __future__ import annotations

import uuid

from hubwire.analytics.destinations import DESTINATIONS, AnalyticsEvent, events_json, events_of, joined_events_json

IDS = ["col_1", "evt_01JABCDEF", "col_ünïcödé-🙂", "x" * 64, ""]


def test_each_event_has_the_dedupe_id_of_uuid5_on_every_destination() -> None:
    events = [AnalyticsEvent(i, "signup", "u_1", 1_765_000_000.25, {"plan": "pro"}, "collect") for i in IDS]
    expected = [uuid.uuid5(uuid.NAMESPACE_URL, "hubwire:" + i) for i in IDS]
    posthog = DESTINATIONS["posthog"].build({"api_key": "phc_1", "host": "http://127.0.0.1:9"}, events)
    assert [e["uuid"] for e in posthog[0].json["batch"]] == [str(u) for u in expected]
    segment = DESTINATIONS["segment"].build({"write_key": "w", "host": "http://127.0.0.1:9"}, events)
    assert [m["messageId"] for m in segment[0].json["batch"]] == [str(u) for u in expected]
    mixpanel = DESTINATIONS["mixpanel"].build({"api_secret": "s", "host": "http://127.0.0.1:9"}, events)
    assert [e["properties"]["$insert_id"] for e in mixpanel[0].json] == [u.hex for u in expected]
    errors = [AnalyticsEvent(i, "error", "u_1", 1_765_000_000.25, {}, "collect") for i in IDS]
    sentry = DESTINATIONS["sentry"].build({"dsn": "http://key@127.0.0.1:9/42"}, errors)
    assert [r.content.split(b"\n")[0] for r in sentry if r.content] == [
        f'{{"event_id":"{u.hex}","sent_at":"2025-12-06T05:46:40.250Z"}}'.encode() for u in expected
    ]


def test_json_arrays_of_events_join_into_one_of_all_their_events_in_order() -> None:
    events = [AnalyticsEvent(i or "e", "signup", "u_1", 1.5, {"n": n, "s": "a,]b"}) for n, i in enumerate(IDS)]
    arrays = [events_json(events[:2]), events_json([]), events_json(events[2:3]), events_json(events[3:])]
    assert events_of(joined_events_json(arrays)) == events
    assert events_of(joined_events_json([events_json([])])) == []
