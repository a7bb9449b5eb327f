"""What the apply step of an inbound webhook gets: the stored, verified request.

The contract between the ingest (route, inbox, the ``inbound.apply`` job) and the providers:

- a provider that takes webhooks declares ``webhook_scheme`` (a name known to
  :func:`hubwire.inbound.verifier_for`) and ``webhook_support = True``;
- the secrets its requests are verified with are the Integration's credentials
  ``webhook_secret`` (the live one) and ``previous_webhook_secrets`` (a list, still accepted
  while a rotation settles); whoever registers the webhook at the provider stores them;
- :meth:`Provider.webhook_event_type` names a verified request's event (``customer.updated``,
  ``issues.opened``) for the inbox and its filters;
- the ``inbound.apply`` job calls :meth:`Provider.on_webhook` with a :class:`ReceivedHook`; it
  returns ``"applied"`` or ``"ignored"`` (an event it has nothing to do with), and raises to fail
  (a retryable error is retried by the job, another one marks the hook ``failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ApplyOutcome", "ReceivedHook", "webhook_secrets"]

ApplyOutcome = Literal["applied", "ignored"]


@dataclass(frozen=True)
class ReceivedHook:
    """One verified provider webhook as the inbox holds it."""

    id: str  # the inbox row's id
    integration_id: str
    provider: str
    event_id: str | None  # the provider's id of the event (deduplication key), when it has one
    event_type: str | None
    payload: Any  # the body parsed: JSON, or a form as a dict (Twilio, Slack commands)
    headers: Mapping[str, str]  # lower-case names; signature headers removed
    received_at: float


def webhook_secrets(credentials: Mapping[str, Any]) -> list[str]:
    """The secrets an Integration's webhooks are verified with, the live one first."""
    live = credentials.get("webhook_secret")
    previous = credentials.get("previous_webhook_secrets") or []
    return [s for s in (live, *previous) if isinstance(s, str) and s]
