"""The GitHub simulator: ``server`` (the HTTP face), ``state`` (repositories, issues, pull requests,
comments and their changes), ``objects`` (GitHub's JSON shapes) and ``spec`` (checks against
GitHub's OpenAPI description)."""

from __future__ import annotations

from hubwire.simulators.github.server import DEFAULT_TOKEN, MISMATCH, GitHubSimulator, RecordedRequest

__all__ = ["DEFAULT_TOKEN", "MISMATCH", "GitHubSimulator", "RecordedRequest"]
