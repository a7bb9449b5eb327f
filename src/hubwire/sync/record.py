"""One provider record that arrives on its own (a webhook's object), applied as a page of one.

The same :func:`~hubwire.sync.upsert.apply_page` a sync uses, so the entity, its event (with the
provider as the source), the ref, hooks and outbound webhooks follow exactly as in a sync, and the
order rules hold (an older record never moves the entity back; an unchanged one writes nothing).
A sync running meanwhile may change or link the same entity between the plan and the write
(``VersionConflictError``): the record is planned again from what is stored then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubwire.errors import VersionConflictError
from hubwire.sync.upsert import Incoming, PageResult, apply_page

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.noun import Noun

__all__ = ["ATTEMPTS", "apply_record"]

ATTEMPTS = 5


async def apply_record(
    hub: Hub, *, integration_id: str, resource: str, noun: Noun, item: Incoming, source: str
) -> PageResult:
    """Apply ``item`` (a ``resource`` record mapped to ``noun``) in one transaction; see the module."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await apply_page(
                hub, integration_id=integration_id, resource=resource, noun=noun, items=[item], source=source
            )
        except VersionConflictError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
