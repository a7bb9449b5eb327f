"""The providers that ship with Hubwire: importing this module registers them.

Add a provider here with one import line; ``hubwire`` imports this module once.
"""

from hubwire.connectors import github, stripe

__all__ = ["github", "stripe"]
