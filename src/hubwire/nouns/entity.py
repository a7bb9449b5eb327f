"""What verbs return: an entity (a dict in its serialised form) and a page of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubwire.nouns.schema import camel_to_snake

__all__ = ["Entity", "Page"]

META = ("$id", "$type", "created_at", "updated_at", "version")


class Entity(dict[str, Any]):
    """``{"$id", "$type", <fields, snake_case>, "created_at", "updated_at", "version"}``.

    Fields read as attributes too, in snake_case or the seed's camelCase:
    ``entity.provider``, ``entity.last_sync_at``, ``entity.lastSyncAt``; so do items
    (``entity["lastSyncAt"]``). ``entity.id`` is ``$id`` and ``entity.type`` is ``$type``
    unless the Noun has a field of that name: on attribute access a field always wins over
    metadata (``Event.create(type="deal_closed").type == "deal_closed"``), and the metadata
    stays under ``$id`` / ``$type``. Names of dict methods (``items``, ``values``, ...) and
    :meth:`fields` are read with ``entity["values"]``.
    """

    __slots__ = ()

    # Resolved by __getattr__ (after the fields), not as properties, which would win over a field.
    id: str
    type: str
    version: int

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        key = camel_to_snake(name)
        if key in self:
            return self[key]
        meta = _META_ATTRIBUTES.get(name)
        if meta is not None:
            return meta(self)
        raise AttributeError(f"{self.get('$type', 'Entity')} has no field {name!r}")

    def __missing__(self, key: str) -> Any:
        # The seed's camelCase reads the stored snake_case: entity["authType"] is entity["auth_type"].
        snake = camel_to_snake(key) if isinstance(key, str) else key
        if snake != key and snake in self:
            return self[snake]
        raise KeyError(key)

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if k not in META}


# The metadata readable as attributes when no field has the name.
_META_ATTRIBUTES: dict[str, Callable[[Entity], Any]] = {
    "id": lambda e: str(e["$id"]),
    "type": lambda e: str(e["$type"]),
    "version": lambda e: int(e["version"]),
}


class Page(list[Entity]):
    """A list of entities with the cursor of the next page."""

    def __init__(self, items: list[Entity], next_cursor: str | None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None

    def to_dict(self) -> dict[str, Any]:
        return {"data": list(self), "has_more": self.has_more, "next_cursor": self.next_cursor}
