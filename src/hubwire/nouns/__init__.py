"""Nouns: the schema language, the verb pipeline (``nouns.verbs``) and hooks, filters, state machines."""

from hubwire.nouns.entity import Entity, Page
from hubwire.nouns.hooks import Context, on
from hubwire.nouns.noun import Noun
from hubwire.nouns.verbs import VerbCall, acting_as, current_source

__all__ = ["Context", "Entity", "Noun", "Page", "VerbCall", "acting_as", "current_source", "on"]
