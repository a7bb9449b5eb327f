"""The HMAC verifier configured as data, for custom providers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from hubwire import ValidationError
from hubwire.inbound import HmacVerifier, SignatureError, WebhookRequest
from tests.inbound.signed import NOW, clock


# Computed outside Python: printf '%s' 'Hello, World!' | openssl dgst -sha1 -hmac custom -hex
def test_sha1_hex_with_a_prefix_vector_from_openssl() -> None:
    verifier = HmacVerifier(header="X-Acme-Signature", algorithm="sha1", prefix="sha1=", id_header="X-Acme-Id")
    headers = {"x-acme-signature": "sha1=03a7957417ad95f8865708e129f3789a410238c0", "X-ACME-ID": "a-1"}
    assert verifier.verify(WebhookRequest(b"Hello, World!", headers), ["custom"]) == "a-1"
    upper = {**headers, "x-acme-signature": headers["x-acme-signature"].upper().replace("SHA1=", "sha1=")}
    assert verifier.verify(WebhookRequest(b"Hello, World!", upper), ["custom"]) == "a-1"  # hex in any case
    with pytest.raises(SignatureError) as err:
        verifier.verify(WebhookRequest(b"Hello, World?", headers), ["custom"])
    assert err.value.code == "bad_signature"


def test_sha512_base64_signing_timestamp_method_and_url() -> None:
    # The expected value built here with hmac, as the provider would: "{timestamp}.{method}.{url}.{body}".
    verifier = HmacVerifier(
        header="X-Sig",
        algorithm="sha512",
        encoding="base64",
        timestamp_header="X-Sig-Time",
        timestamp_unit="ms",
        message="{timestamp}.{method}.{url}.{body}",
        id_field="uuid",
    )
    body, url, stamp = b'{"uuid":"u-9","kind":"ping"}', "https://hub.example.com/v1/hooks/integration_1", f"{NOW}000"
    mac = hmac.new(b"s3cret", f"{stamp}.PUT.{url}.".encode() + body, hashlib.sha512).digest()
    headers = {"X-Sig": base64.b64encode(mac).decode(), "X-Sig-Time": stamp}
    request = WebhookRequest(body, headers, method="put", url=url)
    assert verifier.verify(request, ["s3cret"], clock=clock()) == "u-9"
    for at in (NOW - 301, NOW + 301):
        with pytest.raises(SignatureError) as err:
            verifier.verify(request, ["s3cret"], clock=clock(at))
        assert err.value.code == "timestamp_out_of_tolerance"
    as_post = WebhookRequest(body, headers, method="POST", url=url)
    with pytest.raises(SignatureError, match="signs this request"):
        verifier.verify(as_post, ["s3cret"], clock=clock())


def test_literal_braces_and_a_custom_tolerance() -> None:
    verifier = HmacVerifier(header="X-S", timestamp_header="X-T", message="{{v1}}:{timestamp}:{body}", tolerance=10)
    mac = hmac.new(b"k", f"{{v1}}:{NOW}:".encode() + b"x", hashlib.sha256).hexdigest()
    request = WebhookRequest(b"x", {"X-S": mac, "X-T": str(NOW)})
    assert verifier.verify(request, ["k"], clock=clock(NOW + 10)) is None
    with pytest.raises(SignatureError, match="too old"):
        verifier.verify(request, ["k"], clock=clock(NOW + 11))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"header": ""}, "header"),
        ({"header": "X-S", "algorithm": "md5"}, "algorithm"),
        ({"header": "X-S", "encoding": "base32"}, "encoding"),
        ({"header": "X-S", "message": "{timestamp}.{body}"}, "message"),  # a timestamp signed but never checked
        ({"header": "X-S", "timestamp_header": "X-T"}, "message"),  # a timestamp checked but not signed
        ({"header": "X-S", "message": "{body}{body}"}, "message"),
        ({"header": "X-S", "message": "{secret}{body}"}, "message"),
        ({"header": "X-S", "message": "{body!r}"}, "message"),
        ({"header": "X-S", "message": "{body"}, "message"),
        ({"header": "X-S", "id_header": "X-Id", "id_field": "id"}, "id_field"),
        ({"header": 7}, "header"),
        ({"header": "X-S", "tolerance": -5}, "tolerance"),
        ({"header": "X-S", "signature_header": "X-S"}, "signature_header"),
    ],
)
def test_a_bad_configuration_is_a_validation_error_naming_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        HmacVerifier.from_config(config)
    assert field in [e.field for e in err.value.errors]


def test_from_config_builds_the_same_verifier() -> None:
    config = {"header": "X-Sig", "prefix": "sha256=", "id_header": "X-Id"}
    assert HmacVerifier.from_config(config) == HmacVerifier(header="X-Sig", prefix="sha256=", id_header="X-Id")


def test_a_signature_without_its_prefix_is_malformed() -> None:
    verifier = HmacVerifier(header="X-Sig", prefix="sha256=")
    mac = hmac.new(b"k", b"x", hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError) as err:
        verifier.verify(WebhookRequest(b"x", {"X-Sig": mac}), ["k"])
    assert err.value.code == "malformed_header" and err.value.fields == {"scheme": "hmac", "header": "X-Sig"}
