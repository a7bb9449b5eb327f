"""The providers' webhook signature schemes.

GitHub, Slack and Shopify are an :class:`HmacVerifier` configured as data; HubSpot v3 is one with
its URL quirk; Stripe, Twilio and Standard Webhooks have headers of their own. Each follows the
provider's documentation and agrees with the provider's own library where one exists (the tests
check it). Pure: no I/O, and never a secret or a signature in an error or a return value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from hubwire.errors import ConfigurationError, ValidationError
from hubwire.inbound.generic import HmacVerifier
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
from hubwire.webhooks.signing import Signer, secret_key

__all__ = [
    "GITHUB",
    "SHOPIFY",
    "SLACK",
    "HubSpotVerifier",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "TwilioVerifier",
]

GITHUB = HmacVerifier(scheme="github", header="X-Hub-Signature-256", prefix="sha256=", id_header="X-GitHub-Delivery")
"""``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; the event id is ``X-GitHub-Delivery``."""

SLACK = HmacVerifier(
    scheme="slack",
    header="X-Slack-Signature",
    prefix="v0=",
    timestamp_header="X-Slack-Request-Timestamp",
    message="v0:{timestamp}:{body}",
    id_field="event_id",
)
"""``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">``; Events API bodies carry
``event_id`` (slash commands and interactions carry none)."""

SHOPIFY = HmacVerifier(
    scheme="shopify", header="X-Shopify-Hmac-Sha256", encoding="base64", id_header="X-Shopify-Webhook-Id"
)
"""``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`` under the app's client secret; Shopify
has no signed timestamp. The id Shopify says to deduplicate on is ``X-Shopify-Webhook-Id``."""

# The escapes HubSpot decodes in the URI before signing (its v3 validation docs list exactly these).
_HUBSPOT_DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class HubSpotVerifier(HmacVerifier):
    """HubSpot v3: ``X-HubSpot-Signature-v3`` is the base64 HMAC-SHA256 of method + URI + body +
    ``X-HubSpot-Request-Timestamp`` (milliseconds). One request carries a batch of events, so no
    single event id is returned."""

    scheme: str = "hubspot"
    header: str = "X-HubSpot-Signature-v3"
    encoding: Encoding = "base64"
    timestamp_header: str | None = "X-HubSpot-Request-Timestamp"
    timestamp_unit: Literal["s", "ms"] = "ms"
    message: str = "{method}{url}{body}{timestamp}"

    def signed_url(self, request: WebhookRequest) -> str:
        return _HUBSPOT_DECODED.sub(lambda m: bytes.fromhex(m.group(1)).decode(), request.url)


@dataclass(frozen=True, kw_only=True)
class StripeVerifier(Verifier):
    """``Stripe-Signature: t=<seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`` with one ``v1`` per live
    signing secret (Stripe's own roll); other schemes (``v0``) are ignored. The secret (``whsec_...``)
    is the HMAC key as text. Returns the event's ``id`` (``evt_...``)."""

    scheme: str = "stripe"
    header: str = "Stripe-Signature"

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        items = [part.partition("=") for part in self.require_header(request, self.header).split(",")]
        stamps = [value.strip() for key, sep, value in items if sep and key.strip() == "t"]
        if not stamps:
            raise self.fail("malformed_header", f"{self.header} has no t= timestamp", header=self.header)
        sent_at = self.parse_timestamp(stamps[0], self.header)
        given = [decode_signature(value.strip(), "hex") for key, sep, value in items if sep and key.strip() == "v1"]
        if not given:
            raise self.fail("missing_signature", f"{self.header} has no v1 signature", header=self.header)
        message = f"{sent_at}.".encode() + request.body
        if not matches([digest(s.encode(), message) for s in secrets], given):
            raise self.fail("bad_signature", "no stripe webhook secret signs this request", header=self.header)
        self.check_tolerance(sent_at, clock, self.header)
        return json_field(request.body, "id")


@dataclass(frozen=True, kw_only=True)
class StandardWebhooksVerifier(Verifier):
    """Standard Webhooks (another Hubwire, Svix): ``webhook-signature`` holds space-separated
    ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` under the key of a
    ``whsec_`` secret; Svix's ``svix-`` headers are read when the ``webhook-`` ones are absent.
    Returns ``webhook-id``."""

    scheme: str = "standard_webhooks"

    def _header(self, request: WebhookRequest, name: str) -> tuple[str, str]:
        if request.header(f"webhook-{name}") is None and request.header(f"svix-{name}") is not None:
            return f"svix-{name}", self.require_header(request, f"svix-{name}")
        return f"webhook-{name}", self.require_header(request, f"webhook-{name}")

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        _, msg_id = self._header(request, "id")
        stamp_header, stamp = self._header(request, "timestamp")
        sig_header, signature = self._header(request, "signature")
        sent_at = self.parse_timestamp(stamp, stamp_header)
        try:
            keys = [secret_key(s) for s in secrets]
        except ValidationError:
            raise ConfigurationError(
                "a configured Standard Webhooks secret is not 'whsec_' + base64", code="invalid_webhook_secret"
            ) from None
        expected = Signer(keys).signature(msg_id, sent_at, request.body).split(" ")
        if not matches((e.encode() for e in expected), (g.encode() for g in signature.split())):
            raise self.fail("bad_signature", "no Standard Webhooks secret signs this request", header=sig_header)
        self.check_tolerance(sent_at, clock, stamp_header)
        return msg_id


_TWILIO_HASHES: dict[str, Algorithm] = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


@dataclass(frozen=True, kw_only=True)
class TwilioVerifier(Verifier):
    """``X-Twilio-Signature``: base64 HMAC (SHA-1, or SHA-256 when ``X-Twilio-Webhooks-Signature-Settings``
    says ``algorithm=HMAC_SHA256``) of the full URL followed by each form parameter's name and value,
    sorted. A JSON body is signed through the URL's ``bodySHA256`` query parameter instead. As
    Twilio's own validator does, the URL is tried with and without its default port. Twilio signs
    no timestamp; the id returned is ``I-Twilio-Idempotency-Token`` (the same on Twilio's retries)."""

    scheme: str = "twilio"
    header: str = "X-Twilio-Signature"
    settings_header: str = "X-Twilio-Webhooks-Signature-Settings"

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        given = decode_signature(self.require_header(request, self.header).strip(), "base64")
        algorithm = _TWILIO_HASHES.get(self._algorithm(request))
        if algorithm is None:
            raise self.fail("malformed_header", "unsupported Twilio signature algorithm", header=self.settings_header)
        query = parse_qs(urlsplit(request.url).query)
        if "bodySHA256" in query:
            body_hash = hashlib.sha256(request.body).hexdigest().encode()
            # The body is signed through its hash in the (signed) URL.
            body_ok = hmac.compare_digest(body_hash, query["bodySHA256"][0].encode())
            params: dict[str, list[str]] = {}
        else:
            body_ok = True
            params = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        signed = [_twilio_string(url, params).encode() for url in _with_and_without_port(request.url)]
        expected = [digest(s.encode(), message, algorithm) for s in secrets for message in signed]
        if not (matches(expected, [given]) and body_ok):
            raise self.fail("bad_signature", "no twilio webhook secret signs this request", header=self.header)
        return request.header("I-Twilio-Idempotency-Token")

    def _algorithm(self, request: WebhookRequest) -> str:
        for part in (request.header(self.settings_header) or "").split(","):
            key, sep, value = part.partition("=")
            if sep and key.strip() == "algorithm" and value.strip():
                return value.strip().upper()
        return "HMAC_SHA1"


def _twilio_string(url: str, params: dict[str, list[str]]) -> str:
    # Twilio's validator joins each name with each of its distinct values, both sorted.
    return url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))


def _with_and_without_port(url: str) -> Iterable[str]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: no variant to try
        return (url,)
    if port is not None:
        bare = parts.netloc.rsplit(":", 1)[0]
        return (url, urlunsplit(parts._replace(netloc=bare)))
    default = 443 if parts.scheme == "https" else 80
    return (url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
