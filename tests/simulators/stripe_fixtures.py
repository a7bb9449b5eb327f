"""Pytest fixtures for the Stripe simulator, registered by the root conftest (``pytest_plugins``).

``stripe_sim`` yields a started :class:`StripeSimulator` (checking every request against Stripe's
OpenAPI description when ``../shared/specs`` is present) and fails the test at teardown if it
recorded mismatches. ``stripe_spec`` is the checker itself, loaded once per session; it skips the
test with the reason when the specs folder is absent, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hubwire.simulators.specs import locate_specs_dir
from hubwire.simulators.stripe import StripeSimulator
from hubwire.simulators.stripe.spec import StripeSpecChecker

__all__ = ["checked_stripe_simulator", "require_stripe_specs", "stripe_sim", "stripe_spec"]

_IN_CI = os.environ.get("CI", "").lower() == "true"
_REASON = (
    "../shared/specs not present (stripe/spec3.yaml under ../shared/specs or $HUBWIRE_SPECS_DIR): "
    "Stripe's OpenAPI description is needed for this check"
)


def require_stripe_specs() -> Path:
    """The specs folder holding Stripe's description; skip (fail under CI=true) when it is absent."""
    found = locate_specs_dir()
    if found is None or not (found / "stripe" / "spec3.yaml").is_file():
        if _IN_CI:
            pytest.fail(f"CI=true but {_REASON}")
        pytest.skip(_REASON)
    return found


@pytest.fixture(scope="session")
def stripe_spec() -> StripeSpecChecker:
    checker = StripeSpecChecker.from_specs_dir(require_stripe_specs())
    assert checker is not None
    return checker


@asynccontextmanager
async def checked_stripe_simulator(**options: Any) -> AsyncIterator[StripeSimulator]:
    """A started simulator; on exit, ``pytest.fail`` if it recorded requests that break Stripe's spec."""
    if _IN_CI:
        require_stripe_specs()
    async with StripeSimulator(**options) as sim:
        yield sim
    if sim.mismatches:
        pytest.fail("requests did not match Stripe's OpenAPI description:\n" + "\n".join(sim.mismatches[:10]))


@pytest.fixture
async def stripe_sim() -> AsyncIterator[StripeSimulator]:
    """A Stripe simulator on 127.0.0.1 (ephemeral port); requests that break Stripe's spec fail the test."""
    async with checked_stripe_simulator() as sim:
        yield sim
