"""Ids: prefix, length, alphabet, uniqueness and an even spread over the alphabet."""

from __future__ import annotations

from collections import Counter

import pytest

from hubwire.store.ids import ALPHABET, new_id, new_ids, noun_of


def test_shape_and_uniqueness() -> None:
    ids = {new_id("Integration") for _ in range(20_000)}
    assert len(ids) == 20_000
    for i in list(ids)[:100]:
        prefix, rest = i.split("_")
        assert prefix == "integration" and len(rest) == 8 and set(rest) <= set(ALPHABET)
    assert noun_of("subscription_item_abc12345") == "subscription_item"
    assert len(new_id("evt", 16).split("_")[1]) == 16


def test_characters_are_evenly_spread() -> None:
    counts = Counter("".join(new_id("x")[2:] for _ in range(31_000)))
    expected = 31_000 * 8 / 62
    assert set(counts) == set(ALPHABET)
    assert all(abs(c - expected) < expected * 0.15 for c in counts.values())


def test_ids_in_bulk_have_the_same_shape_and_spread() -> None:
    assert new_ids("Customer", 0) == []
    ids = new_ids("Customer", 5_000) + new_ids("evt", 5_000, 16)
    assert len(set(ids)) == 10_000
    assert all(i.startswith("customer_") and len(i) == 17 for i in ids[:5_000])
    assert all(i.startswith("evt_") and len(i) == 20 for i in ids[5_000:])
    counts = Counter("".join(i.split("_")[1] for i in ids))
    expected = (5_000 * 8 + 5_000 * 16) / 62
    assert set(counts) == set(ALPHABET)
    assert all(abs(c - expected) < expected * 0.15 for c in counts.values())


def test_ordered_ids_sort_by_creation_and_stay_unique() -> None:
    from hubwire.store.ids import new_ordered_ids

    assert new_ordered_ids("evt", 0) == []
    # Many in one call, one at a time, and a bulk again: each later than the one before, in string order.
    ids = (
        new_ordered_ids("evt", 5_000) + [new_ordered_ids("evt", 1)[0] for _ in range(5_000)] + new_ordered_ids("evt", 3)
    )
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids) == 10_003
    assert len({i[4:13] for i in ids}) == len(ids)  # the time part alone is strictly increasing
    assert all(i.startswith("evt_") and len(i) == 4 + 9 + 12 and set(i[4:]) <= set(ALPHABET) for i in ids)
    # The random part is spread over the whole alphabet.
    counts = Counter("".join(i[13:] for i in ids))
    expected = len(ids) * 12 / 62
    assert set(counts) == set(ALPHABET)
    assert all(abs(c - expected) < expected * 0.15 for c in counts.values())


def test_ordered_ids_follow_the_clock_and_never_go_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from hubwire.store.ids import new_ordered_ids

    first = new_ordered_ids("evt", 1)[0]
    # The clock stepped back an hour: ids still sort after the ones made before.
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600 * 10**9)
    later = new_ordered_ids("evt", 2)
    assert first < later[0] < later[1]
    monkeypatch.setattr(time, "time_ns", lambda: real() + 3_600 * 10**9)
    assert later[1] < new_ordered_ids("evt", 1)[0]
