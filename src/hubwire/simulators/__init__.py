"""Local provider simulators: real HTTP servers on loopback that speak a provider's wire format.

Used by the test suite (every request checked against the provider's official OpenAPI description
when ``../shared/specs`` is present) and by ``hubwire simulate <provider>`` so the integrations can
be tried with no provider account. Nothing here ever contacts a real provider.
"""

from __future__ import annotations

from hubwire.simulators.specs import RequestCheck, locate_specs_dir
from hubwire.simulators.stripe import StripeSimulator

__all__ = ["RequestCheck", "StripeSimulator", "locate_specs_dir"]
