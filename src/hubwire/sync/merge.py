"""The three-way field merge of a synced entity, and the conflict policies that decide a clash.

Per mapped field, three values: the **base** (what the last sync saw), the **local** value and
the **remote** one. A field changed on one side only takes that side (remote: the entity is
updated; local: the value is pushed to the provider); a field changed on both sides to
different values is a conflict, which the field's policy decides:

- ``last_modified_wins`` (default): the newer side, by the record's remote updated-at against the
  entity's ``updated_at`` (remote when the provider gives no updated-at);
- ``provider`` / ``local``: source priority, that side always;
- ``manual``: parked for review; the entity keeps its local value, the sync goes on.

Policies are an Integration's ``config.conflicts``: ``{"default": "manual", "Contact":
"provider", "Contact.email": "local"}`` (the most specific key wins). This module is pure: no
I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.noun import Noun

__all__ = ["POLICIES", "FieldClash", "Merge", "Policies", "three_way"]

Policy = Literal["last_modified_wins", "provider", "local", "manual"]
POLICIES: tuple[Policy, ...] = ("last_modified_wins", "provider", "local", "manual")
Outcome = Literal["local", "remote", "value"]


@dataclass(frozen=True)
class Policies:
    """An Integration's conflict policies: by ``Noun.field``, then ``Noun``, then ``default``."""

    rules: Mapping[str, Policy] = field(default_factory=dict)

    @classmethod
    def parse(cls, config: Any, *, name: str = "conflicts") -> Policies:
        """Checked ``config.conflicts``; a ValidationError names each wrong key or value."""
        if config is None:
            return cls()
        if not isinstance(config, Mapping):
            raise ValidationError.single(
                name, "type", f"{name} must be an object such as {{'default': 'manual', 'Contact.email': 'provider'}}"
            )
        errors: list[FieldError] = []
        rules: dict[str, Policy] = {}
        for key, value in config.items():
            where = f"{name}.{key}"
            if value not in POLICIES:
                errors.append(
                    FieldError(where, "invalid_policy", f"{value!r} is not a policy (one of {', '.join(POLICIES)})")
                )
                continue
            problem = _key_problem(str(key))
            if problem is not None:
                errors.append(FieldError(where, "unknown_target", problem))
                continue
            rules[str(key)] = value
        if errors:
            raise ValidationError(
                "invalid conflict policies: " + "; ".join(f"{e.field}: {e.message}" for e in errors), errors
            )
        return cls(rules)

    def of(self, noun: str, fname: str) -> Policy:
        rules = self.rules
        return rules.get(f"{noun}.{fname}") or rules.get(noun) or rules.get("default") or "last_modified_wins"

    def to_dict(self) -> dict[str, str]:
        return dict(self.rules)


def _key_problem(key: str) -> str | None:
    """Why ``key`` names no Noun or field (``None`` when it does)."""
    if key == "default":
        return None
    noun_name, _, fname = key.partition(".")
    noun = Noun.registry.get(noun_name)
    if noun is None:
        return f"{key!r}: no Noun {noun_name!r} (keys are 'default', a Noun or Noun.field)"
    if fname and fname not in noun.fields:
        return f"{key!r}: {noun_name} has no field {fname!r}"
    return None


@dataclass(frozen=True)
class FieldClash:
    """One field changed on both sides, and what its policy made of it (``outcome`` None: parked)."""

    base: Any
    local: Any
    remote: Any
    policy: Policy
    outcome: Outcome | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "local": self.local,
            "remote": self.remote,
            "policy": self.policy,
            "outcome": self.outcome,
            "value": None if self.outcome is None else self.local if self.outcome == "local" else self.remote,
        }


@dataclass
class Merge:
    """What to do with one entity: fields to take from the remote, fields to push, clashes."""

    take: dict[str, Any] = field(default_factory=dict)  # field -> remote value, to store locally
    push: list[str] = field(default_factory=list)  # fields whose local value the provider should get
    clashes: dict[str, FieldClash] = field(default_factory=dict)

    @property
    def parked(self) -> list[str]:
        return [f for f, c in self.clashes.items() if c.outcome is None]


_MISSING = object()


def three_way(
    noun: str,
    names: Iterable[str],
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any],
    remote: Mapping[str, Any],
    policies: Policies,
    *,
    remote_newer: bool,
) -> Merge:
    """Merge ``names`` field by field. ``base`` None (unknown): every difference is a clash.

    Values are compared as stored (the caller validates base and remote through the Noun first).
    ``remote_newer`` is what ``last_modified_wins`` decides by.
    """
    merge = Merge()
    for f in names:
        lv, rv = local.get(f), remote.get(f)
        if lv == rv:
            continue
        bv = _MISSING if base is None else base.get(f)
        if bv is not _MISSING and lv == bv:
            merge.take[f] = rv
            continue
        if bv is not _MISSING and rv == bv:
            merge.push.append(f)
            continue
        policy = policies.of(noun, f)
        if policy == "manual":
            outcome: Outcome | None = None
        elif policy == "provider" or (policy == "last_modified_wins" and remote_newer):
            outcome = "remote"
        else:
            outcome = "local"
        merge.clashes[f] = FieldClash(None if bv is _MISSING else bv, lv, rv, policy, outcome)
        if outcome == "remote":
            merge.take[f] = rv
        elif outcome == "local":
            merge.push.append(f)
    return merge
