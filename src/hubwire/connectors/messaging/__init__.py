"""Messaging providers (Slack, Microsoft Teams, SendGrid, Twilio), the ``Message`` and
``EmailMessage`` Nouns, and routing rules rendering events with sandboxed templates.

Messaging Integrations are delivery destinations of the outbound webhooks subsystem
(:mod:`hubwire.webhooks.destinations`): routed events and sent messages are deliveries in the
same log, with the same retries, dead letter, resend and limits. See :mod:`.base`.
"""

from hubwire.connectors.messaging import sendgrid, slack, teams, twilio
from hubwire.connectors.messaging.base import MessagingProvider, Outgoing
from hubwire.connectors.messaging.messages import EmailMessage, Message

__all__ = ["EmailMessage", "Message", "MessagingProvider", "Outgoing", "sendgrid", "slack", "teams", "twilio"]
