"""``hubwire Integration.connect --directions``: a refused direction is an error naming the Noun,
given as ``Noun=direction`` pairs or as a JSON object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubwire.connectors.registry import default_registry
from tests.cli.conftest import Cli
from tests.sync.widgets import Widgets


@pytest.fixture
def widgets_provider() -> Iterator[None]:
    default_registry.register(Widgets())
    yield
    default_registry.unregister("widgets")


@pytest.mark.parametrize("given", ["Widget=both,Owner=push", '{"Widget": "both", "Owner": "push"}'])
def test_a_refused_direction_is_named(cli: Cli, widgets_provider: None, given: str) -> None:
    r = cli("Integration.connect", "--provider", "widgets", "--token", "tok_x", "--directions", given)
    assert r.code == 2 and r.out == ""  # a user's mistake
    assert r.err.strip().splitlines() == [
        "error: invalid directions for widgets: widgets cannot push Owner (Nouns it can push: Widget) "
        "(validation_error)",
        "  directions.Owner: widgets cannot push Owner (Nouns it can push: Widget)",
    ]
