"""Sync frequencies: what is accepted, how it is normalised, and when it ticks (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hubwire.errors import ValidationError
from hubwire.sync.frequency import parse_frequency


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("given", "text", "period"),
    [
        ("every 15m", "every 15m", 900.0),
        ("Every 15 minutes", "every 15m", 900.0),
        ("every 2h", "every 2h", 7200.0),
        ("every 1h", "hourly", 3600.0),
        ("hourly", "hourly", 3600.0),
        ("daily", "daily", 86400.0),
        ("every 3 days", "every 3d", 259200.0),
    ],
)
def test_intervals_are_normalised(given: str, text: str, period: float) -> None:
    f = parse_frequency(given)
    assert (f.text, f.period, f.cron) == (text, period, None)


def test_manual_never_ticks() -> None:
    for word in ("manual", "off", "Never"):
        f = parse_frequency(word)
        assert f.manual and f.text == "manual"
        assert f.next_after(1000.0, "x") is None and f.due(1000.0, "x") is None


def test_a_cron_expression_ticks_when_it_says_in_utc() -> None:
    f = parse_frequency("30 6 * * 1-5")
    assert f.cron == "30 6 * * 1-5" and f.text == "30 6 * * 1-5"
    # 2026-12-05 is a Saturday: the next weekday 06:30 is Monday the 7th.
    assert f.next_after(at("2026-12-05T12:00:00"), "x") == at("2026-12-07T06:30:00")
    assert f.due(at("2026-12-07T06:30:00"), "x") == at("2026-12-07T06:30:00")  # a tick at now is due now
    assert f.due(at("2026-12-07T07:00:00"), "x") == at("2026-12-07T06:30:00")
    assert f.next_after(at("2026-12-07T06:30:00"), "x") == at("2026-12-08T06:30:00")  # strictly after


def test_an_interval_ticks_at_a_stable_phase_per_integration() -> None:
    f = parse_frequency("every 15m")
    now = at("2026-12-06T10:07:30")
    phases = set()
    for key in (f"integration_{i}" for i in range(50)):
        nxt = f.next_after(now, key)
        assert nxt is not None and now < nxt <= now + 900
        assert f.next_after(now, key) == nxt  # stable
        assert nxt % 60 == 0  # on a whole minute
        due = f.due(nxt, key)
        assert due == nxt and f.due(nxt - 1, key) == nxt - 900
        phases.add(nxt)
    assert len(phases) > 5  # spread over the period, not all at :00


def test_missed_ticks_are_one_due_tick() -> None:
    f = parse_frequency("hourly")
    key = "integration_abc"
    first = f.next_after(at("2026-12-06T00:00:00"), key)
    assert first is not None
    later = first + 5 * 3600 + 10  # five ticks missed
    assert f.due(later, key) == first + 5 * 3600
    assert f.next_after(later, key) == first + 6 * 3600


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("every 30s", "unknown unit"),
        ("every 0m", "shortest interval is 1 minute"),
        ("every 400d", "longest interval"),
        ("weekly-ish", "is not one of"),
        ("* * * *", "is not one of"),
        ("61 * * * *", "is not one of"),
        ("0 0 31 2 *", "never falls due"),
        ("", "must be one of"),
    ],
)
def test_bad_frequencies_say_what_is_accepted(given: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_frequency(given)
    assert says in err.value.message and err.value.errors[0].field == "sync_frequency"
    assert err.value.code == "validation_error"


def test_not_a_string_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_frequency(15)
