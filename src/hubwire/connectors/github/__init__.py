"""GitHub: repositories, issues, pull requests and comments as Projects, Issues and Comments, both ways.

Importing this package registers the ``github`` provider in the default registry and the
write-through writers on ``Issue`` and ``Comment``.
"""

from hubwire.connectors.github.provider import GITHUB, GitHub, issue_key, issue_status, parse_issue_key
from hubwire.connectors.github.writers import install_writers, write_comment, write_issue
from hubwire.connectors.registry import default_registry

__all__ = [
    "GITHUB",
    "GitHub",
    "install_writers",
    "issue_key",
    "issue_status",
    "parse_issue_key",
    "write_comment",
    "write_issue",
]

if "github" not in default_registry:
    default_registry.register(GitHub())
install_writers()
