"""OAuth providers declared as data (a JSON file, no Python), with HTTP Basic client authentication."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubwire import Integration
from hubwire.connectors.registry import ProviderRegistry
from hubwire.errors import ConfigurationError, ValidationError
from hubwire.oauth import set_app
from hubwire.oauth.custom import declare_provider
from tests.conftest import make_hub
from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, AuthlibServer
from tests.oauth.conftest import REDIRECT, approve, query_of


@pytest.fixture
def basic_server() -> Iterator[AuthlibServer]:
    with AuthlibServer(auth_method="client_secret_basic") as server:
        yield server


def declaration(server: AuthlibServer) -> dict[str, object]:
    return {
        "slug": "acme_oauth",
        "name": "Acme (declared)",
        "category": "CRM",
        "api_base_url": server.url,
        "check": "/api/me",
        "oauth": {
            "authorize_url": f"{server.url}/authorize",
            "token_url": f"{server.url}/token",
            "scopes": ["profile"],
            "client_auth": "client_secret_basic",
            "refresh_margin": 600,
        },
    }


async def test_a_provider_declared_in_a_json_file_connects(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, basic_server: AuthlibServer
) -> None:
    declared = tmp_path / "providers.json"
    declared.write_text(json.dumps([declaration(basic_server)]))
    async with make_hub(db_url, tmp_path, providers, oauth_providers=declared, allow_private_networks=True) as hub:
        assert hub.providers.get("acme_oauth").auth_type == "OAuth2"
        await set_app(hub, "acme_oauth", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        url = await Integration.authorize(provider="acme_oauth", redirect_uri=REDIRECT)
        assert query_of(url)["code_challenge_method"] == "S256"
        back = approve(url)
        entity = await Integration.connect(code=back["code"], state=back["state"])
        assert entity["status"] == "Connected" and entity["config"]["account"]["name"] == "Ada"
        assert basic_server.store.grants == ["authorization_code"]  # the server takes HTTP Basic only


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"oauth": {"token_url": "x", "client_auth": "jwt"}}, "oauth.client_auth"),
        ({"slug": "bad slug"}, "slug"),
        ({"check": "me"}, "check"),
        ({"webhooks": True}, "webhooks"),
    ],
)
def test_a_bad_declaration_names_the_field(
    basic_server: AuthlibServer, providers: ProviderRegistry, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        declare_provider({**declaration(basic_server), **change}, providers)
    assert err.value.errors[0].field == field


def test_a_bad_file_is_a_configuration_error(tmp_path: Path, providers: ProviderRegistry) -> None:
    bad = tmp_path / "providers.json"
    bad.write_text(json.dumps([{"slug": "x"}]))
    with pytest.raises(ConfigurationError, match="item 0"):
        make_hub(f"sqlite:///{tmp_path}/x.db", tmp_path, providers, oauth_providers=bad)
