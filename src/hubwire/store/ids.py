"""Entity ids: ``{noun lowercased}_{8 random base62 chars}``, e.g. ``integration_hV6nRxWm``.

Event ids are time-ordered instead (:func:`new_ordered_ids`): ``evt_`` then 9 base62 chars of a
microsecond clock, then random chars. Their index takes each new id at its right edge, as it
does a sequence, instead of in a random page (fewer index pages written per transaction).
"""

from __future__ import annotations

import os
import string
import threading
import time

__all__ = ["ALPHABET", "new_id", "new_ids", "new_ordered_ids", "noun_of"]

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


# 9 base62 chars hold microseconds since 1970 until the year 2398.
_TIME_CHARS = 9
_last_micros = 0
_micros_lock = threading.Lock()


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def new_ordered_ids(prefix: str, count: int, random_length: int = 12) -> list[str]:
    """``count`` ids ``{prefix}_{9 time chars}{random_length random chars}`` that sort by creation.

    The time part is the wall clock in microseconds, made strictly increasing within the process
    (an id made in the same microsecond as the previous one, or after the clock stepped back, takes
    the previous value plus one), so ids of one process sort in the order they were made, as
    strings (base62 here is in ASCII order); ids of different processes sort by their clocks. The
    random part (71 bits for 12 chars, from the OS CSPRNG) keeps them unique across processes and
    unguessable from one another.
    """
    global _last_micros
    with _micros_lock:
        start = max(time.time_ns() // 1000, _last_micros + 1)
        _last_micros = start + count - 1
    chars = _random_chars(count * random_length)
    return [
        f"{prefix}_{_base62(start + k, _TIME_CHARS)}{chars[k * random_length : (k + 1) * random_length]}"
        for k in range(count)
    ]


def noun_of(entity_id: str) -> str:
    """The lowercased noun prefix of an id (``deal`` for ``deal_k7TmPvQx``)."""
    return entity_id.rsplit("_", 1)[0]
