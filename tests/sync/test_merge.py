"""The three-way field merge and the conflict policies, as pure functions."""

from __future__ import annotations

import pytest

from hubwire.errors import ValidationError
from hubwire.sync.merge import Policies, three_way
from tests.sync.widgets import Widget  # noqa: F401  (declares the Widget Noun the policies name)

BASE = {"title": "W", "size": 2, "color": "red"}


def merge(local: dict[str, object], remote: dict[str, object], policies: Policies | None = None, *, newer: bool = True):
    return three_way("Widget", list(BASE), BASE, local, remote, policies or Policies(), remote_newer=newer)


def test_a_field_changed_on_one_side_takes_that_side() -> None:
    m = merge({**BASE, "size": 9}, {**BASE, "color": "blue"})
    assert m.take == {"color": "blue"} and m.push == ["size"] and m.clashes == {}


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    m = merge({**BASE, "color": "blue"}, {**BASE, "color": "blue"})
    assert (m.take, m.push, m.clashes) == ({}, [], {})


@pytest.mark.parametrize(
    ("policy", "newer", "outcome"),
    [
        ("last_modified_wins", True, "remote"),
        ("last_modified_wins", False, "local"),
        ("provider", False, "remote"),
        ("local", True, "local"),
        ("manual", True, None),
    ],
)
def test_a_field_changed_on_both_sides_is_decided_by_its_policy(policy: str, newer: bool, outcome: str | None) -> None:
    m = merge({**BASE, "color": "green"}, {**BASE, "color": "blue"}, Policies.parse({"default": policy}), newer=newer)
    clash = m.clashes["color"]
    assert (clash.base, clash.local, clash.remote, clash.outcome) == ("red", "green", "blue", outcome)
    assert m.take == ({"color": "blue"} if outcome == "remote" else {})
    assert m.push == (["color"] if outcome == "local" else [])
    assert m.parked == (["color"] if outcome is None else [])


def test_the_most_specific_policy_wins() -> None:
    p = Policies.parse({"default": "manual", "Widget": "local", "Widget.color": "provider"})
    assert (p.of("Widget", "color"), p.of("Widget", "size"), p.of("Owner", "name")) == ("provider", "local", "manual")
    assert Policies().of("Widget", "color") == "last_modified_wins"


def test_without_a_base_every_difference_is_a_clash() -> None:
    m = three_way("Widget", ["color"], None, {"color": "a"}, {"color": "b"}, Policies(), remote_newer=True)
    assert m.clashes["color"].base is None and m.take == {"color": "b"}


def test_wrong_policies_are_refused_naming_each_key() -> None:
    with pytest.raises(ValidationError) as err:
        Policies.parse({"default": "newest", "Widgit": "manual", "Widget.colour": "local", "Widget": "manual"})
    fields = {e.field: e.code for e in err.value.errors}
    assert fields == {
        "conflicts.default": "invalid_policy",
        "conflicts.Widgit": "unknown_target",
        "conflicts.Widget.colour": "unknown_target",
    }
    assert "one of last_modified_wins, provider, local, manual" in err.value.message
    with pytest.raises(ValidationError):
        Policies.parse(["manual"])
