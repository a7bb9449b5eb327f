"""Ids: prefix, length, alphabet, uniqueness and an even spread over the alphabet."""

from __future__ import annotations

from collections import Counter

from hubwire.nouns.ids import ALPHABET, new_id, noun_of


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
