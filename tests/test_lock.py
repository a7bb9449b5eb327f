"""The lock: ``constraints.txt`` pins every dependency ``pyproject.toml`` names (``make lock`` remakes it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def _pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith(("#", " ")):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pinned()
    missing = sorted({canonicalize_name(r.name) for r in _declared()} - set(pins))
    assert not missing, f"{missing} not in constraints.txt: run `make lock`"
    outside = [
        f"{r} (locked {pins[canonicalize_name(r.name)]})"
        for r in _declared()
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not outside, f"constraints.txt pins outside pyproject.toml's ranges: {outside}; run `make lock`"
