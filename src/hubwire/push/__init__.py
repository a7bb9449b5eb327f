"""Push: local changes of a Noun sent to a provider through a durable outbox (local -> provider).

Per Integration and Noun a direction (:mod:`hubwire.connectors.directions`): ``pull`` (the
default), ``push`` or ``both``, set with the config ``directions`` at connect or by an update,
among the Nouns the provider can push (``Provider.push_directions``; a ``SpecProvider`` declares
them with ``Resource(direction=...)`` and gets ``push`` from the resource's endpoints). For a
pushed Noun, every local create/update/delete that does not come from that provider commits with
a push job (:mod:`hubwire.push.outbox`), which sends it (:mod:`hubwire.push.job`): retried with
backoff, superseded by a newer change, dead-lettered visibly (``hubwire jobs list --kind
sync.push``) with a ``Push.Failed`` event, and its echo recognised by the next sync.

A sync's field merge owes a push too (:func:`hubwire.push.outbox.owe`): local values the provider
lacks, whatever the Noun's direction; it is the same row and the same job.

Importing this package installs the outbox on every Hub; importing :mod:`hubwire.push.job` (a
built-in) registers the job kind and event. The package does not import the job: the sync's
page writer records owed pushes through :mod:`hubwire.push.outbox`, and the job runs syncs' code.
"""

from hubwire.push import outbox
from hubwire.push.outbox import PUSH_JOB, PushStatus, owe, push_status

__all__ = ["PUSH_JOB", "PushStatus", "outbox", "owe", "push_status"]
