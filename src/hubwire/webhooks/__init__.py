"""Outbound webhooks: endpoints (``webhook`` Integrations), fan-out, signed delivery, the attempts log.

Importing this package registers the ``webhook`` provider, the ``webhook.deliver`` job kind and
the fan-out sink installed on every Hub. The functions re-exported here are its SDK; the REST
routes (``/v1/webhooks/...``) and the CLI (``hubwire webhooks ...``) call them.

Contract with consumers:

- **Subscribe**: ``Integration.connect(provider="webhook", url=..., events=["Deal.Closed", "Deal.*", "*"],
  secret=None, headers={...}, max_attempts=8, schedule=[...] | backoff={...}, rate_limit=None,
  concurrency=None, timeout=15, disable_after=432000)``. A generated secret is in the connect result
  once; it is stored encrypted and never listed. Reconnecting without ``secret`` generates a new one.
- **Payload**: ``{"event", "timestamp", "seq", "data"}`` (``data`` is the entity, with ``$id``), at
  most 256 KiB (a bigger one is a dead delivery with a ``payload_too_large`` error).
- **Headers**: Standard Webhooks ``webhook-id`` (the delivery id: stable across retries, resends and
  replays), ``webhook-timestamp``, ``webhook-signature`` (``v1,<sig>``; during a rotation's grace
  period, default 24 h, one signature per live secret, space-separated).
- **At least once, in no guaranteed order**: a worker that dies mid-attempt leaves the attempt to be
  retried, so a consumer may see a ``webhook-id`` twice and must dedupe on it; ``seq`` (the event's
  position in the log) orders events.
- **Retries**: after attempt n wait ``schedule[n-1]`` (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
  10 h, ±20% jitter); ``Retry-After`` on 429/503 is honoured within [1 s, 6 h]; redirects are not
  followed (3xx is a failure). ``410 Gone`` disables the endpoint at once; so does failing with no
  success for ``disable_after`` seconds (default 5 days): status ``Disconnected``, ``error`` set,
  ``Integration.Errored`` emitted; credentials are kept, ``Integration.connect(id, secret=...)``
  re-enables it.
- **Limits**: ``rate_limit`` (deliveries/s) and ``concurrency`` hold per endpoint *within one worker
  process*; with N worker processes an endpoint may get up to N times as much.
- **History**: finished deliveries (succeeded or dead) and their attempts are deleted
  ``HUBWIRE_WEBHOOK_RETENTION_DAYS`` (default 30; 0 keeps them) after their last change, by any
  running worker every ten minutes (:func:`prune`); pending and retrying ones never are.
- **Destinations**: a provider may register a :mod:`~hubwire.webhooks.destinations` entry (Slack,
  Teams, SendGrid, Twilio do): its Integrations are endpoints delivered with the provider's own
  request instead of the signed POST, through this same log, retries, resend and limits.
- **SSRF guard**: see :mod:`hubwire.net.ssrf` (``HUBWIRE_ALLOW_PRIVATE_NETWORKS=1``,
  ``HUBWIRE_ALLOWED_NETWORKS=cidr,...``).
"""

from hubwire.webhooks import destinations, fanout, subscriptions
from hubwire.webhooks.attempts import (
    AttemptRow,
    DeliveryRow,
    get_delivery,
    list_attempts,
    list_deliveries,
    prune,
    recover,
    resend,
    retry_dead,
    rotate_secret,
    send_test,
)
from hubwire.webhooks.delivery import DELIVER_JOB, disable_endpoint
from hubwire.webhooks.endpoints import matches
from hubwire.webhooks.signing import new_secret, sign

__all__ = [
    "DELIVER_JOB",
    "AttemptRow",
    "DeliveryRow",
    "destinations",
    "disable_endpoint",
    "fanout",
    "get_delivery",
    "list_attempts",
    "list_deliveries",
    "matches",
    "new_secret",
    "prune",
    "recover",
    "resend",
    "retry_dead",
    "rotate_secret",
    "send_test",
    "sign",
    "subscriptions",
]
