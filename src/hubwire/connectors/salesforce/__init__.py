"""Salesforce: Accounts, Contacts, Opportunities and Leads as the CRM Nouns, both ways (SOQL sync, sObject writes).

Importing this package loads the CRM Nouns (:mod:`hubwire.domains.crm`), registers the
``salesforce`` provider in the default registry and the write-through writer on the CRM Nouns.
"""

from hubwire.connectors.registry import default_registry
from hubwire.connectors.salesforce.provider import ApiUsage, Salesforce, SalesforceConnection, Session, session_of
from hubwire.connectors.salesforce.spec import SALESFORCE, SOBJECTS
from hubwire.connectors.salesforce.writers import PushResult, install_writers, push

__all__ = [
    "SALESFORCE",
    "SOBJECTS",
    "ApiUsage",
    "PushResult",
    "Salesforce",
    "SalesforceConnection",
    "Session",
    "install_writers",
    "push",
    "session_of",
]

if "salesforce" not in default_registry:
    default_registry.register(Salesforce())
install_writers()
