"""What verbs return: an entity (a dict in its serialised form) and a page of them."""

from __future__ import annotations

from typing import Any

from hubwire.nouns.schema import camel_to_snake

__all__ = ["Entity", "Page"]

META = ("$id", "$type", "created_at", "updated_at", "version")


class Entity(dict[str, Any]):
    """``{"$id", "$type", <fields, snake_case>, "created_at", "updated_at", "version"}``.

    Fields read as attributes too, in snake_case or the seed's camelCase:
    ``entity.provider``, ``entity.last_sync_at``, ``entity.lastSyncAt``; so do items
    (``entity["lastSyncAt"]``). ``entity.type`` is ``$type`` unless the Noun has a field called
    ``type``: then the field wins (``Event.create(type="deal_closed").type == "deal_closed"``)
    and the Noun's name stays under ``$type``. ``entity.id`` is always ``$id`` and
    ``entity.version`` the version: the verb pipeline and the sync engine address entities by
    them, so a field called ``id`` is read as ``entity["id"]``. Names of dict methods (``items``,
    ``values``, ...) and :meth:`fields` are read as items too.
    """

    __slots__ = ()

    @property
    def id(self) -> str:
        return str(self["$id"])

    @property
    def version(self) -> int:
        return int(self["version"])

    # Resolved by __getattr__ after the fields, not as a property, which would win over a field.
    type: str

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        key = camel_to_snake(name)
        if key in self:
            return self[key]
        if name == "type":
            return str(self["$type"])
        raise AttributeError(f"{self.get('$type', 'Entity')} has no field {name!r}")

    def __missing__(self, key: str) -> Any:
        # The seed's camelCase reads the stored snake_case: entity["authType"] is entity["auth_type"].
        snake = camel_to_snake(key) if isinstance(key, str) else key
        if snake != key and snake in self:
            return self[snake]
        raise KeyError(key)

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if k not in META}


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
