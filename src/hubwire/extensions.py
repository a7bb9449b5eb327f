"""Extension points a subsystem uses to plug into every Hub (e.g. webhooks adds an event sink).

A subsystem registers an installer at import time; each new Hub calls every installer once,
after the built-in subsystems are loaded (:mod:`hubwire.connectors.builtin`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hubwire.connectors.builtin import load_builtins
from hubwire.declarations import extensions

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["install_extensions", "on_hub"]


def on_hub(installer: Callable[[Hub], None]) -> Callable[[Hub], None]:
    if installer not in extensions:
        extensions.append(installer)
    return installer


def install_extensions(hub: Hub) -> None:
    load_builtins()
    for installer in extensions:
        installer(hub)
