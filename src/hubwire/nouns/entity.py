"""What verbs return: an entity (a dict in its serialised form) and a page of them."""

from __future__ import annotations

from typing import Any

from hubwire.nouns.schema import camel_to_snake

__all__ = ["Entity", "Page"]

META = ("$id", "$type", "created_at", "updated_at", "version")


class Entity(dict[str, Any]):
    """``{"$id", "$type", <fields, snake_case>, "created_at", "updated_at", "version"}``.

    Fields read as attributes too, in snake_case or the seed's camelCase:
    ``entity.provider``, ``entity.last_sync_at``, ``entity.lastSyncAt``; ``entity.id`` is ``$id``.
    """

    __slots__ = ()

    @property
    def id(self) -> str:
        return str(self["$id"])

    @property
    def type(self) -> str:
        return str(self["$type"])

    @property
    def version(self) -> int:
        return int(self["version"])

    def __getattr__(self, name: str) -> Any:
        key = camel_to_snake(name)
        if key in self:
            return self[key]
        raise AttributeError(f"{self.get('$type', 'Entity')} has no field {name!r}")

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
