"""The CRM Nouns load with their connectors, after a program may have declared a Noun of the same name."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
from hubwire import Noun
Deal = Noun("Deal", {"name": "string!", "close": "Closed"})   # the README tour's own Deal, declared first
from hubwire.connectors.builtin import load_builtins
load_builtins()                                              # what the first Hub does: the CRM connectors load
from hubwire.domains import crm
assert Noun.registry["Deal"] is Deal and crm.Deal is not Deal  # the program's Deal keeps its name
assert Noun.registry["Contact"] is crm.Contact                 # the CRM Nouns nobody else declared are there
"""


def test_a_noun_the_program_declared_first_keeps_its_name() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
