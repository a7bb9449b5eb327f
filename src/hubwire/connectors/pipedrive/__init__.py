"""Pipedrive: persons, organizations, deals and leads as the CRM Nouns, both ways.

Importing this package loads the CRM Nouns (:mod:`hubwire.domains.crm`), registers the
``pipedrive`` provider in the default registry and the write-through writer on the CRM Nouns.
"""

from hubwire.connectors.pipedrive.provider import Pipedrive, credentials_of
from hubwire.connectors.pipedrive.spec import PIPEDRIVE
from hubwire.connectors.pipedrive.writers import install_writers
from hubwire.connectors.registry import default_registry

__all__ = ["PIPEDRIVE", "Pipedrive", "credentials_of", "install_writers"]

if "pipedrive" not in default_registry:
    default_registry.register(Pipedrive())
install_writers()
