"""The HMAC verifier configured as data: custom providers, and the built-in schemes that are only a
header, a digest and a signed string (GitHub, Slack, Shopify, HubSpot).

``message`` says how the signed bytes are built from ``{body}`` (the raw body, exactly once),
``{timestamp}`` (the timestamp header as sent), ``{method}`` and ``{url}``; ``{{``/``}}`` are literal
braces. A timestamp header must be signed (``{timestamp}`` in ``message``), or it would not protect
against replays. Like every verifier: pure, and it never logs or returns a secret or a signature.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from hubwire.errors import FieldError, ValidationError
from hubwire.inbound.verifiers import (
    Algorithm,
    Clock,
    Encoding,
    Verifier,
    WebhookRequest,
    decode_signature,
    digest,
    json_field,
    matches,
)

__all__ = ["HmacVerifier"]

_PLACEHOLDERS = ("body", "timestamp", "method", "url")


@dataclass(frozen=True, kw_only=True)
class HmacVerifier(Verifier):
    """``header`` carries ``prefix`` + the hex or base64 HMAC (``algorithm``) of ``message`` under a
    secret (UTF-8). ``timestamp_header`` (seconds or, with ``timestamp_unit="ms"``, milliseconds)
    is checked against ``tolerance``. The event id comes from ``id_header`` or from the top-level
    JSON field ``id_field`` of the body, if either is set."""

    scheme: str = "hmac"
    header: str
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    timestamp_unit: Literal["s", "ms"] = "s"
    message: str = "{body}"
    id_header: str | None = None
    id_field: str | None = None
    # ``message`` parsed once: (literal text, placeholder or None) pairs.
    _parts: tuple[tuple[str, str | None], ...] = field(init=False, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HmacVerifier:
        """Build from a plain mapping (a custom provider's settings); unknown keys are refused."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValidationError(
                "unknown HMAC verifier settings: " + ", ".join(unknown),
                [FieldError(k, "unknown_parameter", f"{k!r} is not an HMAC verifier setting") for k in unknown],
            )
        return cls(**config)

    def __post_init__(self) -> None:
        super().__post_init__()
        errors = self._config_errors()
        parts = _parse_message(self.message, errors) if isinstance(self.message, str) else ()
        names = [name for _, name in parts]
        if ("timestamp" in names) != (self.timestamp_header is not None):
            errors.append(FieldError("message", "invalid", "message must sign {timestamp} iff timestamp_header is set"))
        if errors:
            raise ValidationError("invalid HMAC verifier: " + "; ".join(e.message for e in errors), errors)
        object.__setattr__(self, "_parts", parts)

    def _config_errors(self) -> list[FieldError]:
        errors = []
        optional = {"timestamp_header": self.timestamp_header, "id_header": self.id_header, "id_field": self.id_field}
        texts: dict[str, object] = {"scheme": self.scheme, "header": self.header, "prefix": self.prefix}
        for name, value in {**texts, "message": self.message, **optional}.items():
            if not isinstance(value, str) and not (name in optional and value is None):
                errors.append(FieldError(name, "invalid", f"{name} must be a string"))
        if not self.header:
            errors.append(FieldError("header", "required", "header (the signature header's name) is required"))
        choices: dict[str, tuple[object, tuple[str, ...]]] = {
            "algorithm": (self.algorithm, ("sha1", "sha256", "sha512")),
            "encoding": (self.encoding, ("hex", "base64")),
            "timestamp_unit": (self.timestamp_unit, ("s", "ms")),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                errors.append(FieldError(name, "invalid", f"{name} must be one of {', '.join(allowed)}"))
        if self.id_header is not None and self.id_field is not None:
            errors.append(FieldError("id_field", "invalid", "set id_header or id_field, not both"))
        return errors

    def signed_url(self, request: WebhookRequest) -> str:
        """The URL as the provider signed it (a scheme with a quirk overrides this)."""
        return request.url

    def signed_message(self, request: WebhookRequest, timestamp: str | None) -> bytes:
        values = {"method": request.method, "url": self.signed_url(request), "timestamp": timestamp or ""}
        out = bytearray()
        for literal, name in self._parts:
            out += literal.encode()
            if name == "body":
                out += request.body
            elif name is not None:
                out += values[name].encode()
        return bytes(out)

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        value = self.require_header(request, self.header)
        if not value.startswith(self.prefix):
            raise self.fail(
                "malformed_header", f"{self.header} does not start with {self.prefix!r}", header=self.header
            )
        given = decode_signature(value[len(self.prefix) :].strip(), self.encoding)
        stamp: str | None = None
        sent_at: float | None = None
        if self.timestamp_header is not None:
            stamp = self.require_header(request, self.timestamp_header)
            sent_at = self.parse_timestamp(stamp, self.timestamp_header) / (1000 if self.timestamp_unit == "ms" else 1)
        message = self.signed_message(request, stamp)
        if not matches([digest(s.encode(), message, self.algorithm) for s in secrets], [given]):
            raise self.fail("bad_signature", f"no {self.scheme} webhook secret signs this request", header=self.header)
        if self.timestamp_header is not None and sent_at is not None:
            self.check_tolerance(sent_at, clock, self.timestamp_header)
        if self.id_header is not None:
            return request.header(self.id_header)
        if self.id_field is not None:
            return json_field(request.body, self.id_field)
        return None


def _parse_message(message: str, errors: list[FieldError]) -> tuple[tuple[str, str | None], ...]:
    """``message`` as (literal text, placeholder or None) pairs; a problem is added to ``errors``."""
    try:
        parsed = list(string.Formatter().parse(message))
    except ValueError as exc:
        errors.append(FieldError("message", "invalid", f"message is not a valid template: {exc}"))
        return ()
    if any(name is not None and (name not in _PLACEHOLDERS or spec or conv) for _, name, spec, conv in parsed):
        errors.append(FieldError("message", "invalid", "message may use only {body}, {timestamp}, {method}, {url}"))
    parts = tuple((literal, name) for literal, name, _, _ in parsed)
    if [name for _, name in parts].count("body") != 1:
        errors.append(FieldError("message", "invalid", "message must contain {body} exactly once"))
    return parts
