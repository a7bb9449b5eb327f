"""Redaction of secrets from text and structures before they reach logs, errors or responses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_processor", "redact_text", "register_secret", "summary"]

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
    r"|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
)
_known: set[str] = set()
_MARKUP = re.compile(r"<[^>]*>?|&[#a-zA-Z0-9]+;")
SUMMARY_LIMIT = 200


def register_secret(value: str) -> None:
    """Remember a secret value (a connected credential) so it is masked wherever it appears."""
    if isinstance(value, str) and len(value) >= 6:
        _known.add(value)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEYS.search(key))


def redact_text(text: str) -> str:
    for value in _known:
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
