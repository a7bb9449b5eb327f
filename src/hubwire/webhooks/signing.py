"""Standard Webhooks signing: secrets (``whsec_`` + base64), headers, and rotation with a grace period.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; during a
rotation's grace period the value carries one signature per live secret, space-separated, so a
consumer that still holds the old secret keeps verifying. This module never logs or returns a
secret except :func:`new_secret` to its caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from hubwire.errors import ValidationError

__all__ = [
    "PREFIX",
    "ROTATION_GRACE",
    "Signer",
    "live_secrets",
    "new_secret",
    "rotated",
    "secret_key",
    "sign",
    "signed_headers",
]

PREFIX = "whsec_"
ROTATION_GRACE = 24 * 3600.0


def new_secret(nbytes: int = 32) -> str:
    """A fresh secret in Standard Webhooks form: ``whsec_`` + base64 of ``nbytes`` random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ValidationError when it is not 24-64 bytes of base64."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValidationError.single("secret", "invalid_secret", "secret must be 'whsec_' + base64 of 24-64 bytes")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError:
        raise ValidationError.single("secret", "invalid_secret", "secret is not valid base64 after 'whsec_'") from None
    if not 24 <= len(key) <= 64:
        raise ValidationError.single("secret", "invalid_secret", f"secret must decode to 24-64 bytes, not {len(key)}")
    return key


def sign(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per key, space-separated."""
    return Signer(keys).signature(msg_id, timestamp, body)


def signed_headers(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return Signer(keys).headers(msg_id, timestamp, body)


class Signer:
    """Signs for a fixed set of keys, each key's HMAC set up once (copied per message): a delivery
    worker keeps one per endpoint."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._macs = [hmac.new(k, digestmod=hashlib.sha256) for k in keys]

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` per key."""
        message = f"{msg_id}.{timestamp}.".encode() + body
        sigs = []
        for base in self._macs:
            mac = base.copy()
            mac.update(message)
            sigs.append("v1," + base64.b64encode(mac.digest()).decode())
        return " ".join(sigs)

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(msg_id, timestamp, body),
        }


def live_secrets(credentials: Mapping[str, Any], now: float) -> list[str]:
    """The current secret first, then previous ones still inside their grace period."""
    out = [str(credentials["secret"])] if credentials.get("secret") else []
    for prev in credentials.get("previous") or ():
        if float(prev.get("until", 0)) > now:
            out.append(str(prev["secret"]))
    return out


def rotated(credentials: Mapping[str, Any], new: str, now: float, grace: float = ROTATION_GRACE) -> dict[str, Any]:
    """Credentials after a rotation to ``new``: the old secret kept, and signed with, until ``now + grace``.

    ``grace=0`` cuts over at once: every older secret stops signing.
    """
    secret_key(new)
    previous = [p for p in credentials.get("previous") or () if float(p.get("until", 0)) > now and grace > 0]
    if credentials.get("secret") and grace > 0:
        previous.insert(0, {"secret": credentials["secret"], "until": now + grace})
    return {**credentials, "secret": new, "previous": previous}
