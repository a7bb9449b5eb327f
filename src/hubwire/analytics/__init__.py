"""Event forwarding to analytics: the ``analytics`` provider, ``POST /v1/collect`` and ``collect.js``.

Importing this package registers the ``analytics`` provider, the ``analytics.flush`` job kind, the
event sink that queues selected Hubwire events for forwarding and the upkeep that re-schedules
pending ones. See :mod:`hubwire.analytics.forwarding` for the delivery contract and
:mod:`hubwire.analytics.destinations` for each destination's wire format.
"""

from hubwire.analytics import provider
from hubwire.analytics.destinations import DESTINATIONS, AnalyticsEvent, is_error_event
from hubwire.analytics.forwarding import (
    FLUSH_JOB,
    BatchRow,
    flush,
    list_batches,
    on_forward,
    pending_counts,
    record_collected,
)
from hubwire.analytics.payloads import Payload

__all__ = [
    "DESTINATIONS",
    "FLUSH_JOB",
    "AnalyticsEvent",
    "BatchRow",
    "Payload",
    "flush",
    "is_error_event",
    "list_batches",
    "on_forward",
    "pending_counts",
    "provider",
    "record_collected",
]
