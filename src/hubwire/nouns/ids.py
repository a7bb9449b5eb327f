"""Entity ids: ``{noun lowercased}_{8 random base62 chars}``, e.g. ``integration_hV6nRxWm``."""

from __future__ import annotations

import os
import string

__all__ = ["ALPHABET", "new_id", "noun_of"]

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
# 256 = 4 * 62 + 8: bytes below 248 map uniformly onto the alphabet; the rest are dropped.
_UNIFORM = 248


def new_id(noun: str, length: int = 8) -> str:
    """A random id from the OS CSPRNG, uniform over base62 (rejection sampling, no modulo bias)."""
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(ALPHABET[b % 62] for b in os.urandom(length + 4) if b < _UNIFORM)
    return f"{noun.lower()}_{''.join(chars[:length])}"


def noun_of(entity_id: str) -> str:
    """The lowercased noun prefix of an id (``deal`` for ``deal_k7TmPvQx``)."""
    return entity_id.rsplit("_", 1)[0]
