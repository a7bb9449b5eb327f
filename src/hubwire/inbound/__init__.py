"""Inbound provider webhooks: proving that a request really comes from the provider.

This package owns the verifiers, one per signature scheme (Stripe, GitHub, Slack, HubSpot v3,
Shopify, Twilio, Standard Webhooks, and an HMAC verifier configured as data for custom
providers), and the registry that maps a provider's ``webhook_scheme`` name to its verifier; then
what is built on them: receiving (:mod:`~hubwire.inbound.ingest`: find the Integration, verify,
store), the inbox (:mod:`~hubwire.inbound.inbox`: deduplicated rows committed with their apply job,
read, replayed, pruned) and the ``inbound.apply`` job (:mod:`~hubwire.inbound.apply`), which applies
the waiting webhooks in batches (:mod:`~hubwire.inbound.batch`). The functions
re-exported here are its SDK: ``POST /v1/hooks/{integration_id}``, ``/v1/hooks/received...`` and
``hubwire hooks ...`` call them.

A verifier is pure (no I/O, an injectable clock), takes the raw body bytes, the headers, the method
and the full URL, and one or more secrets (any may match, so a rotated secret keeps working). It
compares signatures only with :func:`hmac.compare_digest`, refuses timestamps more than a tolerance
(default 5 minutes) in the past or in the future, and either returns the provider's event id
(used to deduplicate) or raises :class:`SignatureError` with a stable ``code``
(``missing_signature``, ``malformed_header``, ``bad_signature``, ``timestamp_out_of_tolerance``).

It never logs a secret or a signature, and never puts one in an error, a ``repr`` or a return value.
"""

from hubwire.inbound.generic import HmacVerifier
from hubwire.inbound.inbox import APPLY_JOB, STATUSES, HookRow, Stored, get_received, list_received, prune, replay
from hubwire.inbound.ingest import HOOK_PATH, receive, stats
from hubwire.inbound.received import ReceivedHook, WebhookRecord, webhook_secrets
from hubwire.inbound.registry import register_scheme, scheme_names, verifier_for
from hubwire.inbound.schemes import (
    GITHUB,
    SHOPIFY,
    SLACK,
    HubSpotVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    TwilioVerifier,
)
from hubwire.inbound.verifiers import DEFAULT_TOLERANCE, SignatureError, Verifier, WebhookRequest

__all__ = [
    "APPLY_JOB",
    "DEFAULT_TOLERANCE",
    "GITHUB",
    "HOOK_PATH",
    "SHOPIFY",
    "SLACK",
    "STATUSES",
    "HmacVerifier",
    "HookRow",
    "HubSpotVerifier",
    "ReceivedHook",
    "SignatureError",
    "StandardWebhooksVerifier",
    "Stored",
    "StripeVerifier",
    "TwilioVerifier",
    "Verifier",
    "WebhookRecord",
    "WebhookRequest",
    "get_received",
    "list_received",
    "prune",
    "receive",
    "register_scheme",
    "replay",
    "scheme_names",
    "stats",
    "verifier_for",
    "webhook_secrets",
]
