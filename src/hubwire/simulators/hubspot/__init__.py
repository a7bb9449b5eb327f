"""The HubSpot simulator: ``server`` (the HTTP face, auth, OAuth, rate limits) and ``state`` (the
portal's objects, properties, associations and search). Built from HubSpot's public API reference;
never contacts the real HubSpot."""

from __future__ import annotations

from hubwire.simulators.hubspot.server import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.simulators.hubspot.state import HubSpotError

__all__ = ["DEFAULT_TOKEN", "HubSpotError", "HubSpotSimulator"]
