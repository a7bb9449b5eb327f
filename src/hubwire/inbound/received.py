"""What the apply step of an inbound webhook gets: the stored, verified request.

The contract between the ingest (route, inbox, the ``inbound.apply`` job) and the providers:

- a provider that takes webhooks declares ``webhook_scheme`` (a name known to
  :func:`hubwire.inbound.verifier_for`) and ``webhook_support = True``;
- the secrets its requests are verified with are the Integration's credentials
  ``webhook_secret`` (the live one) and ``previous_webhook_secrets`` (a list, still accepted
  while a rotation settles); whoever registers the webhook at the provider stores them;
- :meth:`Provider.webhook_event_type` names a verified request's event (``customer.updated``,
  ``issues.opened``) for the inbox and its filters;
- the ``inbound.apply`` job applies webhooks in batches (:mod:`hubwire.inbound.batch`). A provider
  whose events are records (the objects its sync maps) says which in
  :meth:`Provider.webhook_records`: a list of :class:`WebhookRecord` (empty: nothing to do with
  it, ``ignored``), which the job applies together with those of the other webhooks waiting, a page
  per transaction, through the sync's :func:`~hubwire.sync.upsert.apply_page` path. Otherwise
  (``None``, the default) it calls :meth:`Provider.on_webhook` with the :class:`ReceivedHook`, which
  returns ``"applied"`` or ``"ignored"``. Either raises to fail (a retryable error is retried by
  the job, another one marks the hook ``failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hubwire.nouns.noun import Noun
    from hubwire.sync.transitions import VerbFor
    from hubwire.sync.upsert import Incoming

__all__ = ["ApplyOutcome", "ReceivedHook", "WebhookRecord", "webhook_secrets"]

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


@dataclass
class WebhookRecord:
    """One record a webhook changes: a ``resource``'s object mapped to ``noun`` as the sync maps it.

    ``verb_for``: the status moves of this resource that are verbs (``Subscription.Cancelled``),
    announced once the record is stored (:mod:`hubwire.sync.transitions`).
    """

    resource: str
    noun: Noun
    item: Incoming
    verb_for: VerbFor | None = None


def webhook_secrets(credentials: Mapping[str, Any]) -> list[str]:
    """The secrets an Integration's webhooks are verified with, the live one first."""
    live = credentials.get("webhook_secret")
    previous = credentials.get("previous_webhook_secrets") or []
    return [s for s in (live, *previous) if isinstance(s, str) and s]
