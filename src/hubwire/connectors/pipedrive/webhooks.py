"""Pipedrive's webhooks: HTTP Basic authentication as their signature, and their events applied to the CRM Nouns.

Pipedrive signs nothing: a webhook is registered with ``http_auth_user`` / ``http_auth_password``
and every delivery carries them as ``Authorization: Basic``. The :class:`PipedriveVerifier`
(scheme ``pipedrive``) accepts a request whose password is one of the Integration's webhook
secrets (``webhook_secret``, given at connect; the user name is not checked), compared in
constant time. Register the webhook in Pipedrive (Settings > Webhooks, or ``POST /v1/webhooks``)
with version 2.0, any user name and that secret as the password.

Webhooks v2 bodies are applied: ``meta.entity`` (person, organization, deal, lead),
``meta.action`` (``create``, ``change``, ``delete``) and ``data`` (the record in the v2 shape the
sync reads), through the same mapping as a sync page, so a record changed by both hashes the
same: each delivery is one record (:meth:`Provider.webhook_records`), which the inbox applies with
those of the other deliveries waiting, a page per transaction (:mod:`hubwire.inbound.batch`).
``meta.id`` is the event id the inbox deduplicates by. A v1 body (``current`` / ``previous``) and
other entities are ``ignored``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubwire import jsonfast
from hubwire.connectors.pipedrive.spec import DEALS, LEADS, ORGANIZATIONS, PERSONS
from hubwire.connectors.runtime import to_incoming
from hubwire.connectors.spec import Resource
from hubwire.inbound.received import WebhookRecord
from hubwire.inbound.registry import register_scheme
from hubwire.inbound.verifiers import Clock, Verifier, WebhookRequest
from hubwire.sync.upsert import Incoming

if TYPE_CHECKING:
    from hubwire.connectors.pipedrive.provider import Pipedrive
    from hubwire.connectors.registry import ProviderContext
    from hubwire.inbound.received import ReceivedHook

__all__ = ["SCHEME", "PipedriveVerifier", "event_type", "records"]

SCHEME = "pipedrive"
RESOURCE_OF_ENTITY: dict[str, Resource] = {
    "organization": ORGANIZATIONS,
    "person": PERSONS,
    "deal": DEALS,
    "lead": LEADS,
}


@dataclass(frozen=True, kw_only=True)
class PipedriveVerifier(Verifier):
    """``Authorization: Basic base64(user:password)`` with the password one of the secrets."""

    scheme: str = SCHEME

    def _verify(self, request: WebhookRequest, secrets: tuple[str, ...], clock: Clock) -> str | None:
        header = self.require_header(request, "Authorization")
        kind, _, encoded = header.partition(" ")
        if kind.lower() != "basic" or not encoded.strip():
            raise self.fail("malformed_header", "pipedrive webhook Authorization is not Basic", header="Authorization")
        try:
            _, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (ValueError, binascii.Error):
            raise self.fail(
                "malformed_header", "pipedrive webhook Basic credentials are not base64", header="Authorization"
            ) from None
        if not sep:
            raise self.fail(
                "malformed_header", "pipedrive webhook Basic credentials have no password", header="Authorization"
            )
        found = False
        for secret in secrets:  # every secret compared: the time taken says nothing about which
            found |= hmac.compare_digest(secret.encode(), password)
        if not found:
            raise self.fail(
                "bad_signature", "pipedrive webhook password matches no webhook secret", header="Authorization"
            )
        return _meta(request.body).get("id") or None


def _meta(body: bytes | Any) -> dict[str, Any]:
    try:
        doc = jsonfast.loads(body) if isinstance(body, bytes | str) else body
    except ValueError:
        return {}
    meta = doc.get("meta") if isinstance(doc, dict) else None
    return {k: str(v) for k, v in meta.items() if v is not None} if isinstance(meta, dict) else {}


def event_type(payload: Any) -> str | None:
    """``person.change``, ``deal.delete``...: a v2 delivery's entity and action."""
    meta = _meta(payload)
    if meta.get("entity") and meta.get("action"):
        return f"{meta['entity']}.{meta['action']}"
    return None


async def records(provider: Pipedrive, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
    """One v2 delivery's record (see the module docstring); none for what is ignored."""
    payload = hook.payload if isinstance(hook.payload, Mapping) else {}
    meta = _meta(payload)
    resource = RESOURCE_OF_ENTITY.get(meta.get("entity", ""))
    if resource is None or not meta.get("version", "").startswith("2") or not meta.get("entity_id"):
        return []
    resource = provider.mapped(ctx.config, resource)
    if meta.get("action") == "delete":
        inc: Incoming | None = Incoming(meta["entity_id"], {}, deleted=True)
    else:
        data = payload.get("data")
        inc = to_incoming(resource, dict(data)) if isinstance(data, Mapping) else None
    if inc is None:
        return []
    return [WebhookRecord(resource.name, provider.noun(resource), inc)]


register_scheme(SCHEME, PipedriveVerifier())
