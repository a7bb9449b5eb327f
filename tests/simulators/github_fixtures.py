"""Pytest fixtures for the GitHub simulator, registered by the root conftest (``pytest_plugins``).

``github_sim`` yields a started :class:`GitHubSimulator` and fails the test at teardown if it
recorded requests that do not match GitHub's OpenAPI description. ``github_spec_checked`` skips
a test (with the reason) when the shared specs folder is absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hubwire.simulators.github import GitHubSimulator
from hubwire.simulators.github.spec import GitHubSpec, github_spec

__all__ = ["checked_github", "github_sim", "github_spec_checked"]


@pytest.fixture(scope="session")
def github_spec_checked() -> GitHubSpec:
    spec = github_spec()
    if spec is None:
        pytest.skip(
            "GitHub's OpenAPI description is absent (../shared/specs/github/api.github.com.json or "
            "$HUBWIRE_SPECS_DIR) or openapi-core is not installed: spec checks cannot run"
        )
    return spec


@asynccontextmanager
async def checked_github(**options: Any) -> AsyncIterator[GitHubSimulator]:
    """``GitHubSimulator(**options)`` whose spec mismatches fail the test when the block ends."""
    async with GitHubSimulator(**options) as sim:
        yield sim
    if sim.mismatches:
        pytest.fail("requests did not match GitHub's OpenAPI description:\n" + "\n".join(sim.mismatches[:10]))


@pytest.fixture
async def github_sim() -> AsyncIterator[GitHubSimulator]:
    """A GitHub simulator on loopback; spec mismatches it recorded fail the test."""
    async with checked_github() as sim:
        yield sim
