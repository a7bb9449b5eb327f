"""The Pipedrive simulator: ``server`` (the v1/v2 HTTP face, auth, OAuth, token budget) and
``state`` (the company's persons, organizations, deals, leads and custom fields). Built from
Pipedrive's public API reference; never contacts the real Pipedrive."""

from __future__ import annotations

from hubwire.simulators.pipedrive.server import DEFAULT_API_TOKEN, TOKEN_COSTS, PipedriveSimulator
from hubwire.simulators.pipedrive.state import PipedriveError

__all__ = ["DEFAULT_API_TOKEN", "TOKEN_COSTS", "PipedriveError", "PipedriveSimulator"]
