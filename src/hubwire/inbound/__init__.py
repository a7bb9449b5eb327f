"""Inbound provider webhooks: proving that a request really comes from the provider.

This package owns the verifiers, one per signature scheme (Stripe, GitHub, Slack, HubSpot v3,
Shopify, Twilio, Standard Webhooks, and an HMAC verifier configured as data for custom
providers), and the registry that maps a provider's ``webhook_scheme`` name to its verifier. The
ingest route, the inbox and the apply job build on it.

A verifier is pure (no I/O, an injectable clock), takes the raw body bytes, the headers, the method
and the full URL, and one or more secrets (any may match, so a rotated secret keeps working). It
compares signatures only with :func:`hmac.compare_digest`, refuses timestamps more than a tolerance
(default 5 minutes) in the past or in the future, and either returns the provider's event id
(used to deduplicate) or raises :class:`SignatureError` with a stable ``code``
(``missing_signature``, ``malformed_header``, ``bad_signature``, ``timestamp_out_of_tolerance``).

It never logs a secret or a signature, and never puts one in an error, a ``repr`` or a return value.
"""

from hubwire.inbound.generic import HmacVerifier
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
    "DEFAULT_TOLERANCE",
    "GITHUB",
    "SHOPIFY",
    "SLACK",
    "HmacVerifier",
    "HubSpotVerifier",
    "SignatureError",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "TwilioVerifier",
    "Verifier",
    "WebhookRequest",
    "register_scheme",
    "scheme_names",
    "verifier_for",
]
