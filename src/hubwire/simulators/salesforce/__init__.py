"""The Salesforce simulator: ``server`` (the REST and OAuth face), ``state`` (the org's sObjects and
records), ``soql`` (the SOQL subset) and ``spec`` (the (method, path) table from Salesforce's CC0
Postman collection). Never contacts the real Salesforce."""

from __future__ import annotations

from hubwire.simulators.salesforce.server import DEFAULT_SESSION, SalesforceSimulator
from hubwire.simulators.salesforce.state import API_VERSION, SalesforceError

__all__ = ["API_VERSION", "DEFAULT_SESSION", "SalesforceError", "SalesforceSimulator"]
