"""HubSpot: contacts, companies, deals and leads as Contacts, Organizations, Deals and Leads, both ways.

Importing this package registers the ``hubspot`` provider in the default registry (with the CRM
Nouns, :mod:`hubwire.domains.crm`) and the write-through writers on Contact, Organization, Deal and Lead.
"""

from hubwire.connectors.hubspot.connection import DailyQuota, HubSpotConnection
from hubwire.connectors.hubspot.provider import HubSpot, deal_verb
from hubwire.connectors.hubspot.spec import HUBSPOT, deal_status, lead_status
from hubwire.connectors.hubspot.writers import install_writers, properties_of, push
from hubwire.connectors.registry import default_registry

__all__ = [
    "HUBSPOT",
    "DailyQuota",
    "HubSpot",
    "HubSpotConnection",
    "deal_status",
    "deal_verb",
    "install_writers",
    "lead_status",
    "properties_of",
    "push",
]

if "hubspot" not in default_registry:
    default_registry.register(HubSpot())
install_writers()
