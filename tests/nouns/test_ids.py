"""Ids: prefix, length, alphabet, uniqueness and an even spread over the alphabet."""

from __future__ import annotations

from collections import Counter

from hubwire.nouns.ids import ALPHABET, new_id, new_ids, noun_of


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
