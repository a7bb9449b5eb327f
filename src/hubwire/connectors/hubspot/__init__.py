"""HubSpot: contacts, companies and deals as Contacts, Organizations and Deals, both ways.

Importing this package registers the ``hubspot`` provider in the default registry (with the CRM
Nouns, :mod:`hubwire.domains.crm`) and the write-through writers on Contact, Organization and Deal.
"""

from hubwire.connectors.hubspot.connection import DailyQuota, HubSpotConnection
from hubwire.connectors.hubspot.provider import HubSpot, deal_verb
from hubwire.connectors.hubspot.spec import HUBSPOT, deal_status
from hubwire.connectors.hubspot.writers import install_writers, properties_of
from hubwire.connectors.registry import default_registry

__all__ = [
    "HUBSPOT",
    "DailyQuota",
    "HubSpot",
    "HubSpotConnection",
    "deal_status",
    "deal_verb",
    "install_writers",
    "properties_of",
]

if "hubspot" not in default_registry:
    default_registry.register(HubSpot())
install_writers()
