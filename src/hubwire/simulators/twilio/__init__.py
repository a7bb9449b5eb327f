"""The Twilio simulator: ``server`` (the Messages API and signed status callbacks, in memory) and
``spec`` (checks against Twilio's OpenAPI description)."""

from __future__ import annotations

from hubwire.simulators.twilio.server import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_API_KEY_SECRET,
    DEFAULT_API_KEY_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM,
    DEFAULT_SERVICE_SID,
    MISMATCH,
    StatusCallback,
    TwilioSimulator,
    signature,
)

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_API_KEY_SECRET",
    "DEFAULT_API_KEY_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_FROM",
    "DEFAULT_SERVICE_SID",
    "MISMATCH",
    "StatusCallback",
    "TwilioSimulator",
    "signature",
]
