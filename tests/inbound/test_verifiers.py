"""The contract every verifier keeps: event id on success, one typed error per failure, secrets
rotated, constant-time comparison, no secret or signature in what it returns or raises."""

from __future__ import annotations

import hmac
import pickle

import pytest

from hubwire import ConfigurationError, HubwireError, ValidationError
from hubwire.inbound import SignatureError, WebhookRequest, verifier_for
from hubwire.inbound.verifiers import matches
from tests.inbound.signed import CASES, NOW, Case, clock, flipped, longer, same

ids = [c.scheme for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_signed_request_verifies_and_gives_the_event_id(case: Case) -> None:
    assert case.verifier.verify(case.build(same), [case.secret], clock=clock()) == case.event_id


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("mangle", ["same length", "other length"])
def test_a_wrong_signature_of_any_length_is_bad(case: Case, mangle: str) -> None:
    wrong = flipped(case.encoding) if mangle == "same length" else longer(case.encoding)
    request = case.build(wrong)
    with pytest.raises(SignatureError) as err:
        case.verifier.verify(request, [case.secret], clock=clock())
    assert err.value.code == "bad_signature" and err.value.status == 401
    assert err.value.fields["scheme"] == case.verifier.scheme


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_tampered_body_is_bad(case: Case) -> None:
    good = case.build(same)
    tampered = WebhookRequest(good.body + b" ", good.headers, method=good.method, url=good.url)
    with pytest.raises(SignatureError, match="signs this request") as err:
        case.verifier.verify(tampered, [case.secret], clock=clock())
    assert err.value.code == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_any_live_secret_may_match(case: Case) -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY" if case.scheme == "standard_webhooks" else "not-it"
    request = case.build(same)
    assert case.verifier.verify(request, [other, case.secret], clock=clock()) == case.event_id
    assert case.verifier.verify(request, [case.secret, other], clock=clock()) == case.event_id
    with pytest.raises(SignatureError, match="signs this request"):
        case.verifier.verify(request, [other], clock=clock())


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_no_signature_header_is_missing_signature(case: Case) -> None:
    good = case.build(same)
    signature_header = case.header.lower()
    headers = {k: v for k, v in good.headers.items() if k != signature_header}
    with pytest.raises(SignatureError) as err:
        case.verifier.verify(WebhookRequest(good.body, headers, url=good.url), [case.secret], clock=clock())
    assert err.value.code == "missing_signature" and err.value.fields["header"].lower() == signature_header


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_the_decision_is_hmac_compare_digest(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """With compare_digest answering "different" a correct signature fails, and answering "equal" a
    wrong one passes: no ``==`` decides, and no check short-cuts around the constant-time compare."""
    good, wrong = case.build(same), case.build(flipped(case.encoding))
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    with pytest.raises(SignatureError):
        case.verifier.verify(good, [case.secret], clock=clock())
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: True)
    assert case.verifier.verify(wrong, [case.secret], clock=clock()) == case.event_id


def test_every_pair_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert matches([b"right", b"other", b"third"], [b"right", b"wrong"]) is True
    assert len(calls) == 6
    assert matches([b"right"], [None, b"righ"]) is False and calls[-1] == (b"right", b"righ")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_nothing_said_carries_the_secret_or_the_signature(case: Case) -> None:
    request = case.build(flipped(case.encoding))
    with pytest.raises(SignatureError) as err:
        case.verifier.verify(request, [case.secret], clock=clock())
    said = " ".join([str(err.value), repr(err.value.to_dict()), repr(request), repr(case.verifier)])
    assert case.secret not in said
    assert request.header(case.header) not in said


def test_headers_are_case_insensitive_and_the_first_of_a_repeat_counts() -> None:
    request = WebhookRequest(b"", [("X-Hub-Signature-256", "sha256=ab"), ("x-hub-signature-256", "sha256=cd")])
    assert request.header("x-HUB-signature-256") == "sha256=ab"
    assert dict(request.headers) == {"x-hub-signature-256": "sha256=ab"}


def test_the_timestamp_counts_in_both_directions() -> None:
    slack = next(c for c in CASES if c.scheme == "slack")
    request = slack.build(same)
    for at in (NOW - 300, NOW + 300):
        assert slack.verifier.verify(request, [slack.secret], clock=clock(at)) == slack.event_id
    for at, word in ((NOW + 301, "old"), (NOW - 301, "future")):
        with pytest.raises(SignatureError, match=word) as err:
            slack.verifier.verify(request, [slack.secret], clock=clock(at))
        assert err.value.code == "timestamp_out_of_tolerance"


def test_a_verifier_needs_a_secret() -> None:
    github = next(c for c in CASES if c.scheme == "github")
    for secrets in ([], [""], ""):
        with pytest.raises(ConfigurationError) as err:
            github.verifier.verify(github.build(same), secrets)
        assert err.value.code == "no_webhook_secret"
    assert github.verifier.verify(github.build(same), github.secret) == github.event_id  # one secret as a str


def test_a_tolerance_must_be_positive() -> None:
    for tolerance in (0, -1, "300", True):
        with pytest.raises(ValidationError):
            type(verifier_for("stripe"))(tolerance=tolerance)  # type: ignore[arg-type]


def test_signature_error_is_a_hubwire_error_that_pickles() -> None:
    err = SignatureError("no stripe webhook secret signs this request", code="bad_signature", scheme="stripe")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, HubwireError) and type(back) is SignatureError
    assert (back.code, back.status, back.fields) == ("bad_signature", 401, {"scheme": "stripe"})
