"""Secrets never reach logs: the redaction processor, known secrets and well-known secret shapes."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
import structlog

from hubwire.cli.runtime import configure_logging
from hubwire.net.redact import REDACTED, redact, redact_text, redact_values, register_secret, summary
from hubwire.settings import Settings


@pytest.mark.parametrize(
    "text",
    [
        "key sk_test_4eC39HqLyjWDarjtT1zdp7dc refused",
        "token ghp_16C7e42F292c6912E7710c838347Ae178B4a in header",
        "Authorization: Bearer abcdefghijklmnop",
        "slack xoxb-123456789012-abcdefghijkl",
        "postgresql://hubwire:hunter2secret@db/hubwire",
        "signing whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "api key hw_Ab3dEf7h_Qr5tUv8xYz1Bc4dEf6gHj9kLm2nPq3rS pasted",
    ],
)
def test_well_known_secret_shapes(text: str) -> None:
    out = redact_text(text)
    assert REDACTED in out
    for secret in (
        "4eC39HqLyjWDarjtT1zdp7dc",
        "16C7e42F292c",
        "abcdefghijklmnop",
        "abcdefghijkl",
        "hunter2secret",
        "MfKQ9r8GKYqr",
        "Qr5tUv8xYz1Bc4dEf6gHj9kLm2nPq3rS",
    ):
        assert secret not in out


def test_registered_secrets_and_secret_keys() -> None:
    register_secret("plain-looking-value-42")
    assert redact_text("got plain-looking-value-42 back") == f"got {REDACTED} back"
    assert redact({"api_key": "x", "nested": [{"password": "p", "name": "ok"}]}) == {
        "api_key": REDACTED,
        "nested": [{"password": REDACTED, "name": "ok"}],
    }


def test_log_lines_are_json_and_redacted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HUBWIRE_LOG_FORMAT", "json")
    saved = structlog.get_config()
    try:
        configure_logging(Settings())
        register_secret("sk_live_notreally1234567")
        structlog.get_logger("t").warning(
            "provider.failed",
            error="refused sk_live_notreally1234567",
            token="abc123456",
            integration_id="integration_x",
        )
    finally:
        structlog.configure(**saved)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "provider.failed" and line["integration_id"] == "integration_x"
    assert line["token"] == REDACTED and "sk_live_notreally1234567" not in line["error"]


def test_summary_is_bounded_plain_text_without_secrets() -> None:
    register_secret("sk_live_summarykey123")
    said = summary("<h1>Oops</h1>\x1b[31m\tkey sk_live_summarykey123 &amp; " + "z" * 500 + "<script>x()</script>")
    assert said.startswith("Oops key [REDACTED] zzz") and len(said) == 200 and said.endswith("…")
    assert not any(c in said for c in "<>&\x1b\t")


def test_redact_values_masks_every_encoding_of_a_value() -> None:
    value = "Bearer rcv_token_98765"
    echoed = " | ".join(
        [
            value,
            "rcv_token_98765",
            quote(value, safe=""),
            json.dumps(value),
            base64.b64encode(value.encode()).decode(),
            base64.urlsafe_b64encode(b"rcv_token_98765").decode().rstrip("="),
            b"rcv_token_98765".hex(),
        ]
    )
    masked = redact_values(echoed, [value])
    assert "rcv_token" not in masked and "98765" not in masked
    assert redact_values("short abc stays", ["abc"]) == "short abc stays"  # too short to be a secret
