"""The contract every webhook verifier keeps, and the checks they share.

A verifier is pure: it gets a :class:`WebhookRequest` (raw body bytes, headers looked up
case-insensitively, method, full URL), the integration's live secrets (any of them may match:
rotation) and a clock, and either returns the provider's event id (``None`` when the scheme
carries none) or raises :class:`SignatureError` with one of four stable codes:

- ``missing_signature``: the signature (or a header it needs) is absent;
- ``malformed_header``: a header is there but cannot be parsed (a timestamp that is not a number,
  a ``Stripe-Signature`` without ``t=``, a value without its ``sha256=``/``v0=`` prefix);
- ``bad_signature``: no secret signs this request as received;
- ``timestamp_out_of_tolerance``: the signature is right but its timestamp is older, or further in
  the future, than ``tolerance`` seconds (a replay, or a clock off by minutes).

The signature is checked before the timestamp, so ``timestamp_out_of_tolerance`` is only ever said
of a request that a secret really signed. Signatures are compared only with
:func:`hmac.compare_digest` (see :func:`matches`). Nothing here does I/O, logs, or puts a secret or a
signature into an error, a ``repr`` or a return value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from hubwire import jsonfast
from hubwire.errors import ConfigurationError, HubwireError, ValidationError

__all__ = [
    "DEFAULT_TOLERANCE",
    "Algorithm",
    "Clock",
    "Encoding",
    "SignatureError",
    "Verifier",
    "WebhookRequest",
    "decode_signature",
    "digest",
    "json_field",
    "matches",
]

DEFAULT_TOLERANCE = 300.0
Clock = Callable[[], float]
Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]


class SignatureError(HubwireError):
    """An inbound webhook failed verification; ``code`` says how (see the module docstring).

    Fields: ``scheme`` and, where one header is at fault, ``header`` (its name, never its value).
    """

    code = "bad_signature"
    status = 401
    title = "Webhook signature refused"


class WebhookRequest:
    """What a provider sent: the raw body, the headers (names folded to lower case, the first value
    of a repeated header kept), the method and the full URL as the provider called it."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(
        self,
        body: bytes,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        method: str = "POST",
        url: str = "",
    ) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        folded: dict[str, str] = {}
        for name, value in pairs:
            folded.setdefault(name.lower(), value)
        self.body = bytes(body)
        self.headers: Mapping[str, str] = MappingProxyType(folded)
        self.method = method.upper()
        self.url = url

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        # Header values carry signatures: only their names are shown.
        return (
            f"WebhookRequest({self.method} {self.url or '-'}, {len(self.body)} bytes, headers={sorted(self.headers)})"
        )


@dataclass(frozen=True, kw_only=True)
class Verifier:
    """One signature scheme, named by ``scheme``. Subclasses implement :meth:`_verify`;
    ``tolerance`` (seconds, both directions) applies to the schemes that sign a timestamp."""

    scheme: str
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int | float) or self.tolerance <= 0:
            raise ValidationError.single("tolerance", "invalid", "tolerance must be a positive number of seconds")

    def verify(self, request: WebhookRequest, secrets: str | Sequence[str], *, clock: Clock = time.time) -> str | None:
        """The provider's event id when ``request`` is signed by one of ``secrets``; SignatureError if not."""
        # An empty secret would be an HMAC key anyone can sign with: it never counts.
        live = tuple(s for s in ((secrets,) if isinstance(secrets, str) else secrets) if s)
        if not live:
            raise ConfigurationError(
                f"no webhook secret is configured for {self.scheme}", code="no_webhook_secret", scheme=self.scheme
            )
        return self._verify(request, live, clock)

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        raise NotImplementedError

    def fail(self, code: str, message: str, *, header: str | None = None) -> SignatureError:
        return SignatureError(message, code=code, scheme=self.scheme, header=header)

    def require_header(self, request: WebhookRequest, name: str) -> str:
        value = request.header(name)
        if not value:
            raise self.fail("missing_signature", f"{self.scheme} webhook without {name}", header=name)
        return value

    def parse_timestamp(self, value: str, header: str) -> int:
        """A timestamp header as an integer (seconds or milliseconds, as the scheme says)."""
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise self.fail("malformed_header", f"{header} is not a Unix timestamp", header=header)
        return int(text)

    def check_tolerance(self, timestamp: float, clock: Clock, header: str) -> None:
        now = clock()
        if abs(now - timestamp) > self.tolerance:
            direction = "old" if timestamp < now else "far in the future"
            raise self.fail(
                "timestamp_out_of_tolerance",
                f"{self.scheme} webhook timestamp is too {direction} (more than {self.tolerance:g} s from now)",
                header=header,
            )


_HASHES: Mapping[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def digest(key: bytes, message: bytes, algorithm: Algorithm = "sha256") -> bytes:
    """The HMAC of ``message`` under ``key``."""
    return hmac.new(key, message, _HASHES[algorithm]).digest()


def decode_signature(text: str, encoding: Encoding) -> bytes | None:
    """A signature's bytes; ``None`` when it is not valid hex/base64 (so it cannot match)."""
    try:
        if encoding == "hex":
            return binascii.unhexlify(text)  # strict: unlike bytes.fromhex, no whitespace inside
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None


def matches(expected: Iterable[bytes], given: Iterable[bytes | None]) -> bool:
    """Whether any given signature equals any expected one, each pair compared in constant time.

    Every pair is compared (no early exit), so the time taken says nothing about which secret or
    which of several signatures came close.
    """
    candidates = [g for g in given if g is not None]
    found = False
    for want in expected:
        for got in candidates:
            found |= hmac.compare_digest(want, got)
    return found


def json_field(body: bytes, key: str) -> str | None:
    """A top-level string field of a JSON object body (an event id), or ``None``."""
    try:
        doc: Any = jsonfast.loads(body)
    except ValueError:
        return None
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None
