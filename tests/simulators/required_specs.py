"""The providers' API descriptions the spec checks need: skipped with the reason when absent, failed under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubwire.simulators.specs import locate_specs_dir
from tests.conftest import IN_CI

__all__ = ["IN_CI", "require_spec"]


def require_spec(relative: str, needs: str = "") -> Path:
    """The specs folder holding ``relative`` (``stripe/spec3.yaml``); skip the test when it is absent,
    fail it under ``CI=true`` (CI must never pass without the checks). ``needs`` names a missing
    dependency instead, with the same consequence."""
    found = locate_specs_dir()
    reason = needs
    if found is None or not (found / relative).is_file():
        where = found or "the specs folder ($HUBWIRE_SPECS_DIR, or shared/specs beside the checkout)"
        reason = f"{relative} is absent from {where}: the provider's OpenAPI description is needed for this check"
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    assert found is not None
    return found
