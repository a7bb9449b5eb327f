"""Sync directions: which way each Noun flows between Hubwire and one Integration's provider.

``pull`` (provider -> local, the default), ``push`` (local -> provider only: the sync does not
pull it) or ``both``. A provider declares the Nouns it can push and their default direction
(``Provider.push_directions``); an Integration's config ``directions`` (``{"Contact": "both"}``)
chooses per Noun among those. Pure: checks values, never reads the database or sends a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast, get_args

from hubwire.connectors.spec import Direction
from hubwire.errors import FieldError, ValidationError

__all__ = ["DIRECTIONS", "PUSHING", "check_directions", "direction_of"]

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
PUSHING: frozenset[str] = frozenset({"push", "both"})  # directions in which local changes go out


def direction_of(pushable: Mapping[str, Direction], config: Mapping[str, Any] | None, noun: str) -> Direction:
    """The direction of ``noun``: the Integration's choice, else the provider's default, else ``pull``."""
    chosen = (config or {}).get("directions")
    if isinstance(chosen, Mapping) and chosen.get(noun) in DIRECTIONS:
        return cast(Direction, chosen[noun])
    return pushable.get(noun) or "pull"


def check_directions(provider: str, pushable: Mapping[str, Direction], value: Any) -> dict[str, Direction]:
    """``value`` (config ``directions``) checked against what ``provider`` can push; the clean mapping.

    A Noun the provider cannot push may only be ``pull``: anything else is refused, naming the
    Nouns it can push, so a typo never silently leaves changes unsent. A string (the CLI's
    ``--directions``) is a JSON object or ``Noun=direction`` pairs: ``Contact=both,Deal=push``.
    """
    if isinstance(value, str):
        value = _parsed(value)
    if not isinstance(value, Mapping):
        raise ValidationError.single(
            "directions",
            "type",
            'directions must be an object of Noun -> "pull" | "push" | "both", e.g. {"Contact": "both"}',
            provider=provider,
        )
    errors: list[FieldError] = []
    clean: dict[str, Direction] = {}
    can = ", ".join(sorted(pushable)) or "none"
    for noun, direction in value.items():
        where = f"directions.{noun}"
        if direction not in DIRECTIONS:
            errors.append(
                FieldError(where, "enum", f"direction of {noun} must be one of pull, push, both (not {direction!r})")
            )
        elif direction != "pull" and noun not in pushable:
            errors.append(
                FieldError(where, "not_pushable", f"{provider} cannot push {noun} (Nouns it can push: {can})")
            )
        else:
            clean[str(noun)] = direction
    if errors:
        raise ValidationError(
            f"invalid directions for {provider}: " + "; ".join(e.message for e in errors), errors, provider=provider
        )
    return clean


def _parsed(text: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    pairs = [p.partition("=") for p in text.split(",") if p.strip()]
    if not pairs or any(not sep for _, sep, _ in pairs):
        return text
    return {noun.strip(): direction.strip() for noun, _, direction in pairs}
