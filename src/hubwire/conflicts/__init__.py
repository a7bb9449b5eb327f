"""Conflicts: the review queue of fields changed both locally and at a provider.

A sync merges each changed record field by field (:mod:`hubwire.sync.merge`); a field changed on
both sides is decided by the Integration's policies (``config.conflicts``) or parked for review.
This package is the queue's SDK, which the REST routes (``/v1/conflicts``) and the CLI
(``hubwire conflicts``) call::

    await hubwire.conflicts.list(status="open", noun="Customer")
    await hubwire.conflicts.get(12)
    await hubwire.conflicts.resolve(12, take="local", reason="the customer called us")
    await hubwire.conflicts.resolve(12, values={"email": "ada@example.com"}, reason="checked")

Importing it (a built-in, loaded with the providers) registers ``Conflict.Detected`` and
``Conflict.Resolved``. Local values a merge keeps are pushed by the push outbox
(:func:`hubwire.push.outbox.owe`); a resolution writes the provider through the same
:meth:`Provider.push`.
"""

from hubwire.conflicts.review import STATUSES, get_conflict, list_conflicts, resolve_conflict
from hubwire.sync.conflicts import DETECTED, RESOLVED, Conflict, register_events
from hubwire.sync.merge import POLICIES, Policies

register_events()

list = list_conflicts
get = get_conflict
resolve = resolve_conflict

__all__ = [
    "DETECTED",
    "POLICIES",
    "RESOLVED",
    "STATUSES",
    "Conflict",
    "Policies",
    "get",
    "list",
    "resolve",
]
