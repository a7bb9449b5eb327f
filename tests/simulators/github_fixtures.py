"""Pytest fixtures for the GitHub simulator, registered by the root conftest (``pytest_plugins``).

``github_sim`` yields a started :class:`GitHubSimulator` and fails the test at teardown if it
recorded requests that do not match GitHub's OpenAPI description. ``github_spec_checked`` skips
a test (with the reason) when the shared specs folder is absent, and fails it under ``CI=true``,
as the Stripe fixtures do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from hubwire.simulators.github import GitHubSimulator
from hubwire.simulators.github.spec import GITHUB_SPEC_PATH, GitHubSpec, github_spec
from tests.simulators.required_specs import IN_CI, require_spec

__all__ = ["checked_github", "github_sim", "github_spec_checked", "response_problems"]


@pytest.fixture(scope="session")
def github_spec_checked() -> GitHubSpec:
    spec = github_spec(require_spec(str(GITHUB_SPEC_PATH)))
    if spec is None:
        require_spec(str(GITHUB_SPEC_PATH), needs="openapi-core (dev extra) is not installed: spec checks cannot run")
    assert spec is not None
    return spec


def response_problems(spec: GitHubSpec, resp: httpx.Response) -> list[str]:
    """What is wrong with ``resp`` for the request that produced it: its own method, path, query
    and body, read from the response (never from what a test meant to send)."""
    req = resp.request
    return spec.check_response(
        req.method,
        req.url.path,
        req.url.params.multi_items(),
        resp.status_code,
        resp.content,
        dict(resp.headers),
        request_body=req.content or None,
    )


@asynccontextmanager
async def checked_github(**options: Any) -> AsyncIterator[GitHubSimulator]:
    """``GitHubSimulator(**options)`` whose spec mismatches fail the test when the block ends."""
    if IN_CI:
        require_spec(str(GITHUB_SPEC_PATH))
    async with GitHubSimulator(**options) as sim:
        yield sim
    if sim.mismatches:
        pytest.fail("requests did not match GitHub's OpenAPI description:\n" + "\n".join(sim.mismatches[:10]))


@pytest.fixture
async def github_sim() -> AsyncIterator[GitHubSimulator]:
    """A GitHub simulator on loopback; spec mismatches it recorded fail the test."""
    async with checked_github() as sim:
        yield sim
