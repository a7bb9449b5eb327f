"""A correctly signed request for every built-in scheme, each signed independently of Hubwire (the
provider's own library where there is one, else :mod:`hmac` following the provider's docs).

``Case.build(mangle)`` signs the request and passes the signature, in the scheme's encoding,
through ``mangle`` first: the tests use it to send a wrong signature of the same or another length.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import standardwebhooks
import stripe
from twilio.request_validator import RequestValidator

from hubwire.inbound import WebhookRequest, verifier_for
from hubwire.inbound.verifiers import Verifier

NOW = 1_780_000_000
Mangle = Callable[[str], str]


def same(sig: str) -> str:
    return sig


@dataclass(frozen=True)
class Case:
    scheme: str
    secret: str
    encoding: str  # of the signature: "hex" or "base64"
    header: str  # the one that carries the signature
    build: Callable[[Mangle], WebhookRequest]
    event_id: str | None

    @property
    def verifier(self) -> Verifier:
        return verifier_for(self.scheme)


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _b64_hmac(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, algorithm).digest()).decode()


STRIPE_SECRET = "whsec_test_stripe_signing_secret"
STRIPE_BODY = json.dumps({"id": "evt_1PqRsT", "object": "event", "type": "customer.created", "data": {"object": {}}})


def stripe_header(body: str = STRIPE_BODY, secret: str = STRIPE_SECRET, timestamp: int = NOW) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)


def _stripe(mangle: Mangle) -> WebhookRequest:
    t, v1 = stripe_header().split(",")
    return WebhookRequest(STRIPE_BODY.encode(), {"Stripe-Signature": f"{t},v1={mangle(v1[3:])}"})


GITHUB_SECRET = "It's a Secret to Everybody"


def _github(mangle: Mangle) -> WebhookRequest:
    body = b'{"action":"opened","issue":{"number":1}}'
    sig = mangle(_hex_hmac(GITHUB_SECRET, body))
    return WebhookRequest(body, {"X-Hub-Signature-256": f"sha256={sig}", "X-GitHub-Delivery": "72d3162e-cc78"})


SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def _slack(mangle: Mangle) -> WebhookRequest:
    body = b'{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}'
    sig = mangle(_hex_hmac(SLACK_SECRET, f"v0:{NOW}:".encode() + body))
    return WebhookRequest(body, {"X-Slack-Signature": f"v0={sig}", "X-Slack-Request-Timestamp": str(NOW)})


HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def _hubspot(mangle: Mangle) -> WebhookRequest:
    body = b'[{"eventId":1,"subscriptionType":"contact.creation","objectId":123}]'
    url, stamp = "https://hub.example.com/v1/hooks/integration_AbCd1234", str(NOW * 1000)
    sig = mangle(_b64_hmac(HUBSPOT_SECRET, f"POST{url}".encode() + body + stamp.encode()))
    headers = {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": stamp}
    return WebhookRequest(body, headers, method="POST", url=url)


SHOPIFY_SECRET = "shpss_hush"


def _shopify(mangle: Mangle) -> WebhookRequest:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    sig = mangle(_b64_hmac(SHOPIFY_SECRET, body))
    return WebhookRequest(body, {"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37"})


TWILIO_TOKEN = "12345"
TWILIO_URL = "https://hub.example.com/v1/hooks/integration_Tw1l1o00?kind=sms"
TWILIO_PARAMS = {"MessageSid": "SM1234", "From": "+14158675310", "To": "+18005551212", "Body": "Hello"}


def _twilio(mangle: Mangle) -> WebhookRequest:
    sig = mangle(RequestValidator(TWILIO_TOKEN).compute_signature(TWILIO_URL, TWILIO_PARAMS))
    headers = {"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "idem-1"}
    return WebhookRequest(urlencode(TWILIO_PARAMS).encode(), headers, url=TWILIO_URL)


STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _standard(mangle: Mangle) -> WebhookRequest:
    body = b'{"event":"Deal.Closed","data":{"id":"deal_1"}}'
    signed = standardwebhooks.Webhook(STANDARD_SECRET).sign("msg_2Kx", datetime.fromtimestamp(NOW, UTC), body)
    headers = {"webhook-id": "msg_2Kx", "webhook-timestamp": str(NOW), "webhook-signature": "v1," + mangle(signed[3:])}
    return WebhookRequest(body, headers)


CASES = [
    Case("stripe", STRIPE_SECRET, "hex", "Stripe-Signature", _stripe, "evt_1PqRsT"),
    Case("github", GITHUB_SECRET, "hex", "X-Hub-Signature-256", _github, "72d3162e-cc78"),
    Case("slack", SLACK_SECRET, "hex", "X-Slack-Signature", _slack, "Ev08MFMKH6"),
    Case("hubspot", HUBSPOT_SECRET, "base64", "X-HubSpot-Signature-v3", _hubspot, None),
    Case("shopify", SHOPIFY_SECRET, "base64", "X-Shopify-Hmac-Sha256", _shopify, "b54557e4-bdd9-4b37"),
    Case("twilio", TWILIO_TOKEN, "base64", "X-Twilio-Signature", _twilio, "idem-1"),
    Case("standard_webhooks", STANDARD_SECRET, "base64", "webhook-signature", _standard, "msg_2Kx"),
]


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def flipped(encoding: str) -> Mangle:
    """A wrong signature of the same length: its first character (whole bits of the digest) changed."""
    if encoding == "hex":
        return lambda sig: format((int(sig[0], 16) + 1) % 16, "x") + sig[1:]
    return lambda sig: _B64[(_B64.index(sig[0]) + 1) % 64] + sig[1:]


def longer(encoding: str) -> Mangle:
    """A signature one byte longer (still valid hex/base64, so it reaches the comparison)."""
    if encoding == "hex":
        return lambda sig: sig + "00"
    return lambda sig: base64.b64encode(base64.b64decode(sig) + b"\x00").decode()


def clock(at: float = NOW) -> Callable[[], float]:
    return lambda: at
