"""Local provider simulators: real HTTP servers on loopback that speak a provider's wire format.

A package per provider (server, state, spec) on the shared machinery: ``loopback.py`` (lifecycle,
request record, faults, rate window), ``oauth.py`` (authorization-code OAuth), ``specs.py``
(locating, loading and checking against the providers' official descriptions) and ``tls.py`` (a
self-signed loopback certificate). Used by the test suite (every request checked against the
provider's description when the specs folder is present: ``HUBWIRE_SPECS_DIR``, or
``shared/specs`` beside a source checkout) and by ``hubwire simulate <provider>`` so the
integrations can be tried with no provider account. Nothing here ever contacts a real provider.
"""

from __future__ import annotations

from hubwire.simulators.ga4 import GA4Simulator
from hubwire.simulators.github import GitHubSimulator
from hubwire.simulators.hubspot import HubSpotSimulator
from hubwire.simulators.mixpanel import MixpanelSimulator
from hubwire.simulators.pipedrive import PipedriveSimulator
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.salesforce import SalesforceSimulator
from hubwire.simulators.segment import SegmentSimulator
from hubwire.simulators.sendgrid import SendGridSimulator
from hubwire.simulators.sentry import SentrySimulator
from hubwire.simulators.slack import SlackSimulator
from hubwire.simulators.specs import RequestCheck, locate_specs_dir
from hubwire.simulators.stripe import StripeSimulator
from hubwire.simulators.teams import TeamsSimulator
from hubwire.simulators.twilio import TwilioSimulator

__all__ = [
    "GA4Simulator",
    "GitHubSimulator",
    "HubSpotSimulator",
    "MixpanelSimulator",
    "PipedriveSimulator",
    "PostHogSimulator",
    "RequestCheck",
    "SalesforceSimulator",
    "SegmentSimulator",
    "SendGridSimulator",
    "SentrySimulator",
    "SlackSimulator",
    "StripeSimulator",
    "TeamsSimulator",
    "TwilioSimulator",
    "locate_specs_dir",
]
