"""The CRM Nouns are shipped: loaded with the CRM connectors, they never replace a Noun of the same
name the user declared first (the README tour's own ``Deal``), and a user's later one replaces them."""

from __future__ import annotations

from hubwire.domains import crm
from hubwire.nouns.noun import Noun


def test_a_shipped_noun_keeps_the_users_declaration_whichever_comes_first() -> None:
    assert Noun.registry["Deal"] is crm.Deal  # loaded with the built-in connectors
    mine = Noun("Deal", {"name": "string!", "stage": "Open | Closed | Lost"})
    assert Noun.registry["Deal"] is mine  # the user's replaces the shipped one
    shipped = Noun("Deal", {"name": "string!"}, shipped=True)  # the connector loading afterwards
    assert Noun.registry["Deal"] is mine and shipped is not mine
    fresh = Noun("Lead", {"email": "string"}, shipped=True)
    assert Noun.registry["Lead"] is crm.Lead and fresh is not crm.Lead  # shipped never replaces shipped either
