"""The ``hubwire`` command line (Typer + Rich): ``serve``, ``worker``, ``migrate``, ``apikey``,
``jobs``, ``events``, ``providers`` and the seed's ``hubwire Noun.verb`` syntax.

Run it in process with ``main([...])``, which returns the exit code instead of exiting.
"""

from hubwire.cli.app import app, main

__all__ = ["app", "main"]
