"""The SendGrid simulator: ``server`` (v3 mail send, in memory) and ``spec`` (checks against SendGrid's
OpenAPI description)."""

from __future__ import annotations

from hubwire.simulators.sendgrid.server import (
    DEFAULT_API_KEY,
    MISMATCH,
    SendGridSimulator,
    SentMail,
)

__all__ = ["DEFAULT_API_KEY", "MISMATCH", "SendGridSimulator", "SentMail"]
