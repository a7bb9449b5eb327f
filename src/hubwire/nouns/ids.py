"""Entity ids: ``{noun lowercased}_{8 random base62 chars}``, e.g. ``integration_hV6nRxWm``."""

from __future__ import annotations

import os
import string

__all__ = ["ALPHABET", "new_id", "new_ids", "noun_of"]

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
# 256 = 4 * 62 + 8: bytes below 248 map uniformly onto the alphabet; the rest are dropped.
_UNIFORM = 248
_TO_ALPHABET = bytes(ord(ALPHABET[b % 62]) if b < _UNIFORM else 0 for b in range(256))
_DROPPED = bytes(range(_UNIFORM, 256))


def _random_chars(n: int) -> str:
    """``n`` characters uniform over base62 from the OS CSPRNG (rejection sampling, no modulo bias)."""
    out = b""
    while len(out) < n:
        # 8 of 256 byte values are dropped: ask a little more than needed so one read nearly always does.
        out += os.urandom(n - len(out) + (n >> 4) + 4).translate(_TO_ALPHABET, _DROPPED)
    return out[:n].decode("ascii")


def new_id(noun: str, length: int = 8) -> str:
    """A random id from the OS CSPRNG, uniform over base62 (rejection sampling, no modulo bias)."""
    return f"{noun.lower()}_{_random_chars(length)}"


def new_ids(noun: str, count: int, length: int = 8) -> list[str]:
    """``count`` ids like :func:`new_id`, from one read of the CSPRNG (a sync's page of entities or events)."""
    prefix = f"{noun.lower()}_"
    chars = _random_chars(count * length)
    return [prefix + chars[i : i + length] for i in range(0, count * length, length)]


def noun_of(entity_id: str) -> str:
    """The lowercased noun prefix of an id (``deal`` for ``deal_k7TmPvQx``)."""
    return entity_id.rsplit("_", 1)[0]
