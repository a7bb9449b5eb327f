"""Imported by the CLI under test (``--import tests.oauth.cli_provider``): the Authlib test
server's provider, its API at ``$AUTHLIB_TEST_URL``."""

import os

from hubwire.connectors.registry import default_registry
from tests.oauth.authserver import provider

default_registry.register(provider(base_url=os.environ["AUTHLIB_TEST_URL"]))
