"""Local provider simulators: real HTTP servers on loopback that speak a provider's wire format.

A package per provider (``stripe/``, ``github/``: server, state, objects, spec) and the shared
half of spec checking (``specs.py``). Used by the test suite (every request checked against the
provider's official OpenAPI description when the specs folder is present: ``HUBWIRE_SPECS_DIR``,
or ``shared/specs`` beside a source checkout) and by ``hubwire simulate <provider>`` so the
integrations can be tried with no provider account. Nothing here ever contacts a real provider.
"""

from __future__ import annotations

from hubwire.simulators.github import GitHubSimulator
from hubwire.simulators.specs import RequestCheck, locate_specs_dir
from hubwire.simulators.stripe import StripeSimulator

__all__ = ["GitHubSimulator", "RequestCheck", "StripeSimulator", "locate_specs_dir"]
