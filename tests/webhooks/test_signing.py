"""Standard Webhooks signatures: the spec's vector, the independent verifier, rotation."""

from __future__ import annotations

import base64

import pytest
import standardwebhooks

from hubwire import ValidationError
from hubwire.webhooks.signing import Signer, live_secrets, new_secret, rotated, secret_key, sign, signed_headers

VECTOR_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_spec_vector() -> None:
    sig = sign([secret_key(VECTOR_KEY)], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signer_reused_across_messages_matches_signed_headers() -> None:
    keys = [secret_key(VECTOR_KEY), secret_key(new_secret())]
    signer = Signer(keys)
    assert signer.headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')[
        "webhook-signature"
    ].startswith("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,")
    for i in range(3):  # the per-key HMAC state is copied, never consumed
        body = f'{{"n": {i}}}'.encode()
        assert signer.headers(f"msg_{i}", 1700000000 + i, body) == signed_headers(
            keys, f"msg_{i}", 1700000000 + i, body
        )


def test_generated_secret_has_the_standard_form_and_verifies() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = b'{"event":"Deal.Closed"}'
    import time

    ts = int(time.time())
    headers = signed_headers([secret_key(secret)], "msg_1", ts, body)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"event": "Deal.Closed"}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(body, headers)


@pytest.mark.parametrize("bad", ["nope", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode(), None])
def test_bad_secrets_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        secret_key(bad)  # type: ignore[arg-type]
    assert exc.value.errors[0].field == "secret"


def test_rotation_signs_with_both_during_the_grace_period_only() -> None:
    old, new = new_secret(), new_secret()
    creds = rotated({"secret": old}, new, now=1000.0, grace=3600.0)
    assert live_secrets(creds, 1000.0) == [new, old]
    assert live_secrets(creds, 4600.0) == [new]
    import time

    ts = int(time.time())
    headers = signed_headers([secret_key(s) for s in live_secrets(creds, 1000.0)], "msg_2", ts, b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for s in (old, new):
        standardwebhooks.Webhook(s).verify(b"{}", headers)
    # a second rotation keeps the first previous secret until its own end
    again = rotated(creds, new_secret(), now=2000.0, grace=3600.0)
    assert live_secrets(again, 2000.0)[1:] == [new, old]
