"""Each subpackage imports on its own, in a fresh interpreter: the import graph has no cycle that
only an import order (``hubwire/__init__``'s) or a function-level import hides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hubwire

PACKAGE = Path(hubwire.__file__).parent
PARTS = sorted(
    p.stem
    for p in PACKAGE.iterdir()
    if (p.is_dir() and any(p.glob("*.py"))) or (p.suffix == ".py" and p.stem != "__init__")
)

# ``hubwire`` itself stands in as a bare namespace (its __init__, which imports everything in an
# order of its own, does not run); then the part and every module under it are imported in turn.
# A failure is a cycle: a module imported while one it needs is still half-initialised.
SCRIPT = """
import importlib, pkgutil, sys, types
root = types.ModuleType("hubwire")
root.__path__ = [sys.argv[1]]
sys.modules["hubwire"] = root
part = importlib.import_module("hubwire." + sys.argv[2])
for info in pkgutil.walk_packages(getattr(part, "__path__", []), part.__name__ + "."):
    if ".migrations." not in info.name + ".":  # Alembic's scripts, run only by Alembic
        importlib.import_module(info.name)
"""


def test_every_part_is_listed() -> None:
    assert {"nouns", "store", "jobs", "sync", "webhooks", "domains", "hub", "declarations"} <= set(PARTS)


@pytest.mark.slow
@pytest.mark.parametrize("part", PARTS)
def test_a_part_imports_alone(part: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(PACKAGE), part], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_store_imports_nothing_from_nouns() -> None:
    check = SCRIPT + "\nassert not [m for m in sys.modules if m.startswith('hubwire.nouns')], sorted(sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", check, str(PACKAGE), "store"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
