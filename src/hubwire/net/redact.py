"""Redaction of secrets from text and structures before they reach logs, errors or responses."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "REDACTED",
    "encodings",
    "is_secret_key",
    "redact",
    "redact_processor",
    "redact_text",
    "redact_values",
    "register_secret",
    "secret_strings",
    "summary",
]

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(
    r"(secret|token|password|passwd|api[_-]?key|apikey|authorization|credential|private[_-]?key|signature|cookie|dsn)",
    re.I,
)
# Well-known secret shapes: Stripe keys, GitHub tokens, Slack tokens, Standard Webhooks secrets,
# bearer/basic values, and URL userinfo.
_SECRET_VALUES = re.compile(
    r"(sk|rk|pk)_(live|test)_[A-Za-z0-9]{6,}"
    r"|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}"
    r"|xox[abposr]-[A-Za-z0-9-]{8,}"
    r"|whsec_[A-Za-z0-9+/=]{8,}"
    r"|hw_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}"  # Hubwire's own API keys
    r"|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
)
_known: set[str] = set()
# Tags, entities and terminal escape sequences: what would be rendered or interpreted, not read.
_MARKUP = re.compile(r"<[^>]*>?|&[#a-zA-Z0-9]+;|\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")
SUMMARY_LIMIT = 200


def register_secret(value: str) -> None:
    """Remember a secret value (a connected credential) so it is masked wherever it appears."""
    if isinstance(value, str) and len(value) >= 6:
        _known.add(value)


def encodings(value: str) -> set[str]:
    """The spellings of ``value`` that text echoing it may hold: as is, each word of it (the token of
    ``Bearer <token>``), percent-encoded, JSON-escaped, base64 (standard and URL-safe, padded or not) and hex."""
    words = [value, *(w for w in value.split() if len(w) >= 6 and w != value)]
    out: set[str] = set()
    for w in words:
        raw = w.encode()
        b64 = base64.b64encode(raw).decode()
        url64 = base64.urlsafe_b64encode(raw).decode()
        out.update({w, quote(w, safe=""), quote_plus(w, safe=""), json.dumps(w)[1:-1], raw.hex(), raw.hex().upper()})
        out.update({b64, b64.rstrip("="), url64, url64.rstrip("=")})
    return out


def secret_strings(value: Any) -> list[str]:
    """Every string in a structure of credentials (secrets, header values), long enough to be one."""
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secret_strings(v)]
    return [value] if isinstance(value, str) and len(value) >= 6 else []


def redact_values(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values``, in each of its :func:`encodings`, masked; then :func:`redact_text`."""
    spellings = {e for v in values if len(v) >= 6 for e in encodings(v)}
    for spelling in sorted(spellings, key=len, reverse=True):  # longest first: a word inside a value stays masked
        if len(spelling) >= 6 and spelling in text:
            text = text.replace(spelling, REDACTED)
    return redact_text(text)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEYS.search(key))


def redact_text(text: str, also: Iterable[Any] = ()) -> str:
    """``text`` with every registered secret, every value of ``also`` (e.g. credentials just submitted,
    not registered: a refused key) and every well-known secret shape masked."""
    for value in (*_known, *(v for v in also if isinstance(v, str) and len(v) >= 4)):
        if value in text:
            text = text.replace(value, REDACTED)
    return _SECRET_VALUES.sub(REDACTED, text)


def redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """A structlog processor: every value of every log line passes through :func:`redact`."""
    return {k: (REDACTED if is_secret_key(k) and v else redact(v)) for k, v in event_dict.items()}


def summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Words from outside (a provider's error body) fit to show: markup and control characters
    stripped, whitespace collapsed, secrets redacted, at most ``limit`` characters."""
    text = _MARKUP.sub(" ", text)
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
