"""The vault: AES-GCM with a configured or generated key (0600), bound to the integration id."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hubwire import ConfigurationError
from hubwire.vault import Vault, load_or_create_key


def test_generated_key_is_private_and_stable(tmp_path: Path) -> None:
    key = load_or_create_key(None, tmp_path)
    path = tmp_path / "hubwire.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(None, tmp_path) == key
    assert load_or_create_key("from-env", tmp_path) == "from-env"


def test_round_trip_and_wrong_key_or_context() -> None:
    v = Vault("k1")
    blob = v.encrypt({"api_key": "sk_test_x"}, context="integration_a")
    assert b"sk_test_x" not in blob
    assert v.decrypt(blob, context="integration_a") == {"api_key": "sk_test_x"}
    with pytest.raises(ConfigurationError):
        v.decrypt(blob, context="integration_b")
    with pytest.raises(ConfigurationError):
        Vault("k2").decrypt(blob, context="integration_a")
    assert v.encrypt({"a": 1}, context="x") != v.encrypt({"a": 1}, context="x")  # fresh nonce each time
