"""Token responses become credentials: rotation, expiry, the refresh time (pure)."""

from __future__ import annotations

from hubwire.oauth.client import credentials_from, token_error
from hubwire.oauth.tokens import issued


def test_a_new_refresh_token_replaces_the_old_and_a_missing_one_keeps_it() -> None:
    old = {"access_token": "a1", "refresh_token": "r1"}
    rotated = credentials_from({"access_token": "a2", "refresh_token": "r2"}, now=0, margin=900, previous=old)
    kept = credentials_from({"access_token": "a3", "expires_in": 3600}, now=0, margin=900, previous=rotated)
    assert rotated["refresh_token"] == "r2" and kept["refresh_token"] == "r2"


def test_refresh_time_is_the_margin_before_expiry_but_not_before_half_the_life() -> None:
    long = credentials_from({"access_token": "a", "expires_in": 3600}, now=100, margin=900)
    short = credentials_from({"access_token": "a", "expires_in": "600"}, now=100, margin=900)
    assert (long["expires_at"], long["refresh_at"]) == (3700, 2800)
    assert (short["expires_at"], short["refresh_at"]) == (700, 400)
    assert "refresh_at" not in credentials_from({"access_token": "a"}, now=0, margin=900)  # no expiry said


def test_only_tokens_and_times_are_kept() -> None:
    creds = credentials_from({"access_token": "a", "token_type": "Bearer", "scope": "profile"}, now=0, margin=0)
    # Every stored string is masked in logs: "Bearer" must not be one (issued_at is a number).
    assert creds == {"access_token": "a", "issued_at": 0}
    # Issued by a token endpoint, though it says no expiry and has no refresh token; a pasted one is not.
    assert issued(creds) and not issued({"access_token": "a"})


def test_oauth_errors_are_typed() -> None:
    assert token_error("x", "invalid_grant", "expired").code == "reauth_required"
    assert token_error("x", "invalid_client", None).code == "provider_auth_failed"
    assert token_error("x", "invalid_scope", "nope").code == "provider_invalid_request"


def test_a_spec_of_wrong_types_is_refused_before_use() -> None:
    import pytest

    from hubwire.errors import ValidationError
    from hubwire.oauth import OAuthSpec

    base = OAuthSpec(authorize_url="https://a.example/auth", token_url="https://a.example/token")
    for bad in ({"pkce": "yes"}, {"authorize_params": ["x"]}, {"scope_separator": 1}, {"refresh_margin": True}):
        with pytest.raises(ValidationError):
            base.merged(bad).validate()
    base.merged({"token_config": "instance_url", "scopes": "a,b"}).validate()
