"""Scheme names to verifiers."""

from __future__ import annotations

import hashlib
import hmac

import pytest

import hubwire.inbound
from hubwire import ConfigurationError
from hubwire.inbound import HmacVerifier, StripeVerifier, WebhookRequest, register_scheme, scheme_names, verifier_for


def test_the_built_in_schemes() -> None:
    assert {"stripe", "github", "slack", "hubspot", "shopify", "twilio", "standard_webhooks"} <= set(scheme_names())
    for name in scheme_names():
        assert verifier_for(name).scheme == name


def test_an_unknown_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as err:
        verifier_for("stirpe")
    assert err.value.code == "unknown_webhook_scheme" and "stripe" in str(err.value)


def test_a_verifier_is_its_own_scheme() -> None:
    custom = StripeVerifier(tolerance=60)
    assert verifier_for(custom) is custom


def test_a_custom_provider_registers_a_configured_hmac() -> None:
    acme = HmacVerifier(scheme="acme", header="X-Acme-Signature", prefix="sha256=")
    register_scheme("acme_test_registry", acme)
    register_scheme("acme_test_registry", HmacVerifier(scheme="acme", header="X-Acme-Signature", prefix="sha256="))
    mac = hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
    assert (
        verifier_for("acme_test_registry").verify(WebhookRequest(b"{}", {"X-Acme-Signature": f"sha256={mac}"}), "k")
        is None
    )
    with pytest.raises(ConfigurationError) as err:
        register_scheme("acme_test_registry", HmacVerifier(header="X-Other"))
    assert err.value.code == "webhook_scheme_taken"
    with pytest.raises(ConfigurationError):
        register_scheme("stripe", HmacVerifier(header="Stripe-Signature"))


def test_the_package_exports() -> None:
    for name in hubwire.inbound.__all__:
        assert hasattr(hubwire.inbound, name), name
