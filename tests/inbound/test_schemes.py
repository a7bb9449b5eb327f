"""Each provider's scheme against its published vectors and, where one exists, its own library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import standardwebhooks
import stripe
from twilio.request_validator import RequestValidator

from hubwire import ConfigurationError
from hubwire.inbound import SignatureError, WebhookRequest, verifier_for
from tests.inbound.signed import (
    STANDARD_SECRET,
    STRIPE_BODY,
    STRIPE_SECRET,
    TWILIO_PARAMS,
    TWILIO_TOKEN,
    TWILIO_URL,
    clock,
    stripe_header,
)


def refused(scheme: str, request: WebhookRequest, secrets: list[str], now: float | None = None) -> str:
    """The code a verifier refuses with ("" if it accepts)."""
    try:
        verifier_for(scheme).verify(request, secrets, clock=clock(now) if now is not None else time.time)
    except SignatureError as err:
        return err.code
    return ""


# GitHub: the example of "Validating webhook deliveries" in GitHub's docs.
def test_github_published_vector() -> None:
    sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    request = WebhookRequest(b"Hello, World!", {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": "d-1"})
    assert verifier_for("github").verify(request, ["It's a Secret to Everybody"]) == "d-1"
    assert refused("github", request, ["It's a secret to everybody"]) == "bad_signature"
    sha1_only = WebhookRequest(b"Hello, World!", {"X-Hub-Signature-256": "sha1=" + sig[7:47]})
    assert refused("github", sha1_only, ["It's a Secret to Everybody"]) == "malformed_header"


# Slack: the slash-command example of "Verifying requests from Slack".
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_HEADERS = {
    "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    "X-Slack-Request-Timestamp": "1531420618",
}


def test_slack_published_vector() -> None:
    request = WebhookRequest(SLACK_BODY, SLACK_HEADERS)
    assert verifier_for("slack").verify(request, ["8f742231b10e8888abcd99yyyzzz85a5"], clock=clock(1531420618)) is None
    assert refused("slack", request, ["8f742231b10e8888abcd99yyyzzz85a5"], now=1531420618 + 301) == (
        "timestamp_out_of_tolerance"
    )
    # Today (years after the vector) the same request is a replay.
    assert refused("slack", request, ["8f742231b10e8888abcd99yyyzzz85a5"]) == "timestamp_out_of_tolerance"
    no_prefix = WebhookRequest(
        SLACK_BODY, {**SLACK_HEADERS, "X-Slack-Signature": SLACK_HEADERS["X-Slack-Signature"][3:]}
    )
    assert refused("slack", no_prefix, ["8f742231b10e8888abcd99yyyzzz85a5"], 1531420618) == "malformed_header"
    no_stamp = WebhookRequest(SLACK_BODY, {"X-Slack-Signature": SLACK_HEADERS["X-Slack-Signature"]})
    assert refused("slack", no_stamp, ["8f742231b10e8888abcd99yyyzzz85a5"], 1531420618) == "missing_signature"
    bad_stamp = WebhookRequest(SLACK_BODY, {**SLACK_HEADERS, "X-Slack-Request-Timestamp": "1531420618.5"})
    assert refused("slack", bad_stamp, ["8f742231b10e8888abcd99yyyzzz85a5"], 1531420618) == "malformed_header"


# HubSpot: the v3 example of "Validating requests" in HubSpot's docs (timestamp in milliseconds).
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def test_hubspot_published_vector() -> None:
    headers = {
        "X-HubSpot-Signature-v3": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
        "X-HubSpot-Request-Timestamp": "15000000",
    }
    request = WebhookRequest(
        b"{'example_field':'example_value'}", headers, method="POST", url="https://www.example.com/webhook_uri"
    )
    assert verifier_for("hubspot").verify(request, [HUBSPOT_SECRET], clock=clock(15_000)) is None
    assert refused("hubspot", request, [HUBSPOT_SECRET], now=15_000 + 301) == "timestamp_out_of_tolerance"
    assert refused("hubspot", request, [HUBSPOT_SECRET], now=15_000 - 301) == "timestamp_out_of_tolerance"
    as_get = WebhookRequest(request.body, headers, method="GET", url=request.url)
    assert refused("hubspot", as_get, [HUBSPOT_SECRET], now=15_000) == "bad_signature"
    other_url = WebhookRequest(request.body, headers, method="POST", url="https://www.example.com/webhook_uri2")
    assert refused("hubspot", other_url, [HUBSPOT_SECRET], now=15_000) == "bad_signature"


def test_hubspot_signs_the_uri_with_the_listed_escapes_decoded() -> None:
    # HubSpot's docs: decode %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B before signing; others stay.
    sent = "https://hub.example.com/hooks/x?next=a%3Ab%2Fc%40d%2C%20e"
    signed = "https://hub.example.com/hooks/x?next=a:b/c@d,%20e"
    stamp = "1780000000000"
    sig = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), f"POST{signed}[]{stamp}".encode(), "sha256").digest())
    headers = {"X-HubSpot-Signature-v3": sig.decode(), "X-HubSpot-Request-Timestamp": stamp}
    assert refused("hubspot", WebhookRequest(b"[]", headers, url=sent), [HUBSPOT_SECRET], now=1_780_000_000) == ""
    undecoded = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), f"POST{sent}[]{stamp}".encode(), "sha256").digest())
    headers["X-HubSpot-Signature-v3"] = undecoded.decode()
    assert refused("hubspot", WebhookRequest(b"[]", headers, url=sent), [HUBSPOT_SECRET], now=1_780_000_000) != ""


# Shopify: the expected value computed outside Python, with
#   printf '%s' "$BODY" | openssl dgst -sha256 -hmac shpss_hush -binary | base64
def test_shopify_vector_from_openssl() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    headers = {"X-Shopify-Hmac-Sha256": "minWArgZa/Hsplvy6dlnaKNnlyvuW8Y2ovDcBlzZSE0=", "X-Shopify-Webhook-Id": "w-1"}
    assert verifier_for("shopify").verify(WebhookRequest(body, headers), ["shpss_hush"]) == "w-1"
    assert refused("shopify", WebhookRequest(body.replace(b"jon", b"joe"), headers), ["shpss_hush"]) == "bad_signature"
    not_base64 = WebhookRequest(body, {**headers, "X-Shopify-Hmac-Sha256": "not base64!"})
    assert refused("shopify", not_base64, ["shpss_hush"]) == "bad_signature"


# Stripe: headers made by stripe-python's test helper; our verdict agrees with construct_event.
def stripe_accepts(body: str, header: str, secret: str) -> bool:
    try:
        stripe.Webhook.construct_event(body, header, secret)
    except stripe.SignatureVerificationError:
        return False
    return True


def test_stripe_agrees_with_construct_event() -> None:
    now = int(time.time())
    other_body = STRIPE_BODY.replace("customer.created", "customer.deleted")
    two_v1 = stripe_header(secret="whsec_other", timestamp=now) + ",v1=" + stripe_header(timestamp=now).split("v1=")[1]
    cases = {
        "signed": (STRIPE_BODY, stripe_header(timestamp=now), STRIPE_SECRET),
        "tampered body": (other_body, stripe_header(timestamp=now), STRIPE_SECRET),
        "wrong secret": (STRIPE_BODY, stripe_header(timestamp=now), "whsec_wrong"),
        "expired": (STRIPE_BODY, stripe_header(timestamp=now - 301), STRIPE_SECRET),
        "several v1, one right": (STRIPE_BODY, two_v1, STRIPE_SECRET),
        "no v1": (STRIPE_BODY, f"t={now},v0=" + "0" * 64, STRIPE_SECRET),
        "no t": (STRIPE_BODY, stripe_header(timestamp=now).split(",")[1], STRIPE_SECRET),
        "garbage": (STRIPE_BODY, "garbage", STRIPE_SECRET),
    }
    verdicts = {}
    for name, (body, header, secret) in cases.items():
        ours = refused("stripe", WebhookRequest(body.encode(), {"Stripe-Signature": header}), [secret])
        verdicts[name] = ours
        assert (ours == "") == stripe_accepts(body, header, secret), name
    assert verdicts == {
        "signed": "",
        "tampered body": "bad_signature",
        "wrong secret": "bad_signature",
        "expired": "timestamp_out_of_tolerance",
        "several v1, one right": "",
        "no v1": "missing_signature",
        "no t": "malformed_header",
        "garbage": "malformed_header",
    }


def test_stripe_refuses_a_future_timestamp_that_its_library_lets_through() -> None:
    header = stripe_header(timestamp=int(time.time()) + 301)
    assert stripe_accepts(STRIPE_BODY, header, STRIPE_SECRET)  # stripe-python checks only the past
    request = WebhookRequest(STRIPE_BODY.encode(), {"Stripe-Signature": header})
    assert refused("stripe", request, [STRIPE_SECRET]) == "timestamp_out_of_tolerance"


def test_stripe_rotated_secrets_and_the_event_id() -> None:
    request = WebhookRequest(STRIPE_BODY.encode(), {"Stripe-Signature": stripe_header(secret="whsec_old")})
    assert verifier_for("stripe").verify(request, [STRIPE_SECRET, "whsec_old"], clock=clock()) == "evt_1PqRsT"
    not_json = WebhookRequest(b"ping", {"Stripe-Signature": stripe_header("ping")})
    assert verifier_for("stripe").verify(not_json, [STRIPE_SECRET], clock=clock()) is None


# Twilio: signatures made by twilio-python's RequestValidator; our verdict agrees with validate().
def twilio_case(url: str, params: dict[str, str], signature: str) -> tuple[bool, str]:
    library = RequestValidator(TWILIO_TOKEN).validate(url, params, signature)
    request = WebhookRequest(urlencode(params).encode(), {"X-Twilio-Signature": signature}, url=url)
    return library, refused("twilio", request, [TWILIO_TOKEN])


def test_twilio_agrees_with_request_validator_on_form_posts() -> None:
    sign = RequestValidator(TWILIO_TOKEN).compute_signature
    signature = sign(TWILIO_URL, TWILIO_PARAMS)
    with_port = TWILIO_URL.replace("hub.example.com", "hub.example.com:443")
    with_blank = {**TWILIO_PARAMS, "MediaUrl0": ""}
    cases = {
        "signed": (TWILIO_URL, TWILIO_PARAMS, signature),
        "signed, received on the explicit port": (with_port, TWILIO_PARAMS, signature),
        "signed with the port, received without": (TWILIO_URL, TWILIO_PARAMS, sign(with_port, TWILIO_PARAMS)),
        "a blank parameter": (TWILIO_URL, with_blank, sign(TWILIO_URL, with_blank)),
        "tampered parameter": (TWILIO_URL, {**TWILIO_PARAMS, "Body": "Hellp"}, signature),
        "added parameter": (TWILIO_URL, {**TWILIO_PARAMS, "Extra": "1"}, signature),
        "other url": (TWILIO_URL + "&x=1", TWILIO_PARAMS, signature),
        "other token": (
            TWILIO_URL,
            TWILIO_PARAMS,
            RequestValidator("54321").compute_signature(TWILIO_URL, TWILIO_PARAMS),
        ),
    }
    for name, (url, params, sig) in cases.items():
        library, ours = twilio_case(url, params, sig)
        assert (ours == "") == library, name
        assert library == (name.startswith("signed") or name == "a blank parameter"), name


def test_twilio_json_body_is_signed_through_body_sha256() -> None:
    body = json.dumps({"MessageSid": "SM1", "Status": "delivered"})
    url = f"{TWILIO_URL}&bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, {})
    for sent in (body, body.replace("delivered", "failed")):
        library = RequestValidator(TWILIO_TOKEN).validate(url, sent, signature)
        request = WebhookRequest(sent.encode(), {"X-Twilio-Signature": signature}, url=url)
        assert (refused("twilio", request, [TWILIO_TOKEN]) == "") == library == (sent == body)


def test_twilio_sha256_signatures_by_their_settings_header() -> None:
    sign = RequestValidator(TWILIO_TOKEN).compute_signature
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    body = urlencode(TWILIO_PARAMS).encode()
    sha256 = {"X-Twilio-Signature": sign(TWILIO_URL, TWILIO_PARAMS, "HMAC_SHA256"), **settings}
    assert refused("twilio", WebhookRequest(body, sha256, url=TWILIO_URL), [TWILIO_TOKEN]) == ""
    sha1_claimed_as_sha256 = {"X-Twilio-Signature": sign(TWILIO_URL, TWILIO_PARAMS), **settings}
    assert refused("twilio", WebhookRequest(body, sha1_claimed_as_sha256, url=TWILIO_URL), [TWILIO_TOKEN]) == (
        "bad_signature"
    )
    unknown = {**sha256, "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}
    assert refused("twilio", WebhookRequest(body, unknown, url=TWILIO_URL), [TWILIO_TOKEN]) == "malformed_header"


# Standard Webhooks: headers made by the standardwebhooks library; our verdict agrees with its verify().
def test_standard_webhooks_agrees_with_the_library() -> None:
    library = standardwebhooks.Webhook(STANDARD_SECRET)
    now = int(time.time())
    body = b'{"event":"Deal.Closed","data":{"id":"deal_1"}}'

    def headers(at: int, msg_id: str = "msg_1", secret: str = STANDARD_SECRET) -> dict[str, str]:
        sig = standardwebhooks.Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), body)
        return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": sig}

    other = "whsec_" + base64.b64encode(b"another secret of 24 byt").decode()
    several = headers(now)
    several["webhook-signature"] = headers(now, secret=other)["webhook-signature"] + " " + several["webhook-signature"]
    cases = {
        "signed": (body, headers(now)),
        "several signatures, one right": (body, several),
        "tampered body": (body + b" ", headers(now)),
        "other id": (body, {**headers(now), "webhook-id": "msg_2"}),
        "wrong secret": (body, headers(now, secret=other)),
        "expired": (body, headers(now - 301)),
        "future": (body, headers(now + 301)),
    }
    for name, (sent, hdrs) in cases.items():
        try:
            library.verify(sent, hdrs)
            accepted = True
        except standardwebhooks.webhooks.WebhookVerificationError:
            accepted = False
        ours = refused("standard_webhooks", WebhookRequest(sent, hdrs), [STANDARD_SECRET])
        assert (ours == "") == accepted == name.startswith(("signed", "several")), name
        assert ours in ("", "bad_signature", "timestamp_out_of_tolerance"), name


def test_standard_webhooks_reads_svix_headers_and_needs_whsec_secrets() -> None:
    body = b"{}"
    sig = standardwebhooks.Webhook(STANDARD_SECRET).sign("msg_s", datetime.fromtimestamp(1_780_000_000, UTC), body)
    svix = {"svix-id": "msg_s", "svix-timestamp": "1780000000", "svix-signature": sig}
    verifier = verifier_for("standard_webhooks")
    assert verifier.verify(WebhookRequest(body, svix), [STANDARD_SECRET], clock=clock()) == "msg_s"
    with pytest.raises(ConfigurationError) as err:
        verifier.verify(WebhookRequest(body, svix), ["not-a-whsec-secret"], clock=clock())
    assert err.value.code == "invalid_webhook_secret" and "not-a-whsec-secret" not in str(err.value)
