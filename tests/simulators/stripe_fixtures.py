"""Pytest fixtures for the Stripe simulator, registered by the root conftest (``pytest_plugins``).

``stripe_sim`` yields a started :class:`StripeSimulator` (checking every request against Stripe's
OpenAPI description when ``../shared/specs`` is present) and fails the test at teardown if it
recorded mismatches. ``stripe_spec`` is the checker itself, loaded once per session; it skips the
test with the reason when the specs folder is absent, and fails instead under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hubwire.simulators.stripe import StripeSimulator
from hubwire.simulators.stripe.spec import StripeSpecChecker
from tests.simulators.required_specs import IN_CI, require_spec

__all__ = ["checked_stripe_simulator", "require_stripe_specs", "stripe_sim", "stripe_spec"]


def require_stripe_specs() -> Path:
    """The specs folder holding Stripe's description; skip (fail under CI=true) when it is absent."""
    return require_spec("stripe/spec3.yaml")


@pytest.fixture(scope="session")
def stripe_spec() -> StripeSpecChecker:
    checker = StripeSpecChecker.from_specs_dir(require_stripe_specs())
    assert checker is not None
    return checker


@asynccontextmanager
async def checked_stripe_simulator(**options: Any) -> AsyncIterator[StripeSimulator]:
    """A started simulator; on exit, ``pytest.fail`` if it recorded requests that break Stripe's spec."""
    if IN_CI:
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
