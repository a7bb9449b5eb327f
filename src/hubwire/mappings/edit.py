"""List a connection's remote fields, read its mappings, save a new version: what SDK, REST and CLI call.

Saving (:func:`set_mappings`) checks the Noun's new mappings against the provider's field
metadata, asked live (:meth:`Provider.remote_fields`), and the Noun
(:func:`hubwire.mappings.model.validate`): a refused save raises one ``ValidationError`` listing
every problem, and nothing is stored. Accepted, ONE transaction updates the Integration's config
``field_mappings`` (``Integration.Updated``; the next sync and every write read it from there),
appends the version (:mod:`hubwire.mappings.history`) and forgets the Integration's sync cursors:
the next sync reads every record again (not only those changed since), so each is mapped anew.
An empty list removes the Noun's mappings (its fields come from the defaults again).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hubwire.connectors.mappings import FIELD_MAPPINGS, user_mappings
from hubwire.connectors.registry import Provider, ProviderContext
from hubwire.domains.platform import Integration
from hubwire.errors import ValidationError
from hubwire.hub import current_hub
from hubwire.mappings.history import MappingVersion, list_versions, record_version
from hubwire.mappings.model import RemoteField, parse_mappings, validate
from hubwire.nouns import verbs
from hubwire.nouns.noun import Noun
from hubwire.sync.state import reset_cursors
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity
    from hubwire.store.transaction import Tx

__all__ = ["get_mappings", "list_mapping_versions", "remote_fields", "set_mappings"]


async def _context(hub: Hub, integration_id: str) -> tuple[Entity, Provider, ProviderContext]:
    integration = await Integration.load(hub, integration_id)
    prov = hub.providers.get(integration["provider"])
    creds = await load_credentials(hub, integration.id)
    return integration, prov, ProviderContext(hub, prov, integration, creds, dict(integration.get("config") or {}))


def _noun(prov: Provider, integration_id: str, noun: str) -> Noun:
    found = prov.mapped_noun(noun)
    if found is None:
        raise ValidationError.single(
            "noun", "unknown_noun", f"{prov.slug} maps no Noun {noun!r}", integration_id=integration_id
        )
    return found


def _stored(config: dict[str, Any]) -> dict[str, builtins.list[dict[str, Any]]]:
    """Every Noun's mappings in the config, in the stored spelling (either spelling read)."""
    raw = config.get(FIELD_MAPPINGS) or {}
    nouns = dict.fromkeys(str(k).partition(".")[0] for k in raw) if isinstance(raw, dict) else {}
    out = {n: [m.to_json() for m in user_mappings(config, n)] for n in nouns}
    return {n: ms for n, ms in out.items() if ms}


async def remote_fields(integration_id: str, noun: str, *, hub: Hub | None = None) -> builtins.list[RemoteField]:
    """The provider's fields of the object type that fills ``noun`` (custom fields included), asked live."""
    hub = hub or await current_hub()
    integration, prov, ctx = await _context(hub, integration_id)
    _noun(prov, integration.id, noun)
    return await prov.remote_fields(ctx, noun)


async def get_mappings(integration_id: str, *, hub: Hub | None = None) -> dict[str, builtins.list[dict[str, Any]]]:
    """The current mappings, ``{noun: [{remote, field, transform?, direction}]}``."""
    hub = hub or await current_hub()
    integration = await Integration.load(hub, integration_id)
    return _stored(dict(integration.get("config") or {}))


async def set_mappings(
    integration_id: str, noun: str, mappings: Sequence[Any], *, by: str | None = None, hub: Hub | None = None
) -> MappingVersion:
    """Replace ``noun``'s mappings (validated, see the module docstring); the new version."""
    hub = hub or await current_hub()
    integration, prov, ctx = await _context(hub, integration_id)
    target = _noun(prov, integration.id, noun)
    try:
        parsed = validate(target, parse_mappings(noun, mappings), await prov.remote_fields(ctx, noun))
    except ValidationError as exc:
        exc.fields.setdefault("integration_id", integration.id)
        raise
    config = dict(integration.get("config") or {})
    current = _stored(config)
    if parsed:
        current[noun] = [m.to_json() for m in parsed]
    else:
        current.pop(noun, None)
    saved: builtins.list[MappingVersion] = []

    async def record(tx: Tx, _: Entity) -> None:
        saved.append(await record_version(tx, integration.id, current, by))
        # Records unchanged since the last sync are read again too, so that every one is mapped anew.
        await reset_cursors(tx, integration.id)

    await verbs.run(
        Integration, ["update"], integration.id, {"config": {**config, FIELD_MAPPINGS: current}}, in_tx=[record]
    )
    return saved[0]


async def list_mapping_versions(integration_id: str, *, hub: Hub | None = None) -> builtins.list[MappingVersion]:
    """Every saved version, newest first."""
    hub = hub or await current_hub()
    integration = await Integration.load(hub, integration_id)
    return await list_versions(hub, integration.id)
