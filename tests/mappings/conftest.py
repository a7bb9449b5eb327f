from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _dial_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRM simulators listen on loopback: these tests' hubs open the SSRF guard for them."""
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")
