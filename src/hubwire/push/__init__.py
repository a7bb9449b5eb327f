"""Push: local changes of a Noun sent to a provider through a durable outbox (local -> provider).

Per Integration and Noun a direction (:mod:`hubwire.connectors.directions`): ``pull`` (the
default), ``push`` or ``both``, set with the config ``directions`` at connect or by an update,
among the Nouns the provider can push (``Provider.push_directions``; a ``SpecProvider`` declares
them with ``Resource(direction=...)`` and gets ``push`` from the resource's endpoints). For a
pushed Noun, every local create/update/delete that does not come from that provider commits with
a push job (:mod:`hubwire.push.outbox`), which sends it (:mod:`hubwire.push.job`): retried with
backoff, superseded by a newer change, dead-lettered visibly (``hubwire jobs list --kind
sync.push``) with a ``Push.Failed`` event, and its echo recognised by the next sync.

Importing this package installs the outbox on every Hub and registers the job kind and event.
"""

from hubwire.push import job, outbox
from hubwire.push.job import PUSH_FAILED, run_push
from hubwire.push.outbox import PUSH_JOB, PushStatus, push_status

__all__ = ["PUSH_FAILED", "PUSH_JOB", "PushStatus", "job", "outbox", "push_status", "run_push"]
