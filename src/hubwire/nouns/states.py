"""State machines over enum fields: which moves are legal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hubwire.errors import IllegalTransitionError, SchemaError

__all__ = ["StateMachine"]


@dataclass(frozen=True)
class StateMachine:
    field: str
    moves: Mapping[str, frozenset[str]]

    @classmethod
    def build(cls, field: str, moves: Mapping[str, Iterable[str]], states: Iterable[str]) -> StateMachine:
        known = set(states)
        table = {src: frozenset(dst) for src, dst in moves.items()}
        for src, dsts in table.items():
            bad = ({src} | dsts) - known
            if bad:
                raise SchemaError(f"state machine on {field} names unknown states: {', '.join(sorted(bad))}")
        return cls(field, table)

    def allows(self, src: str | None, dst: str) -> bool:
        return src is None or dst in self.moves.get(src, ())

    def check(self, noun: str, entity_id: str | None, src: str | None, dst: str) -> None:
        if src is None or self.allows(src, dst):
            return
        allowed = sorted(self.moves.get(src, ()))
        hint = f"; from {src} it can move to {', '.join(allowed)}" if allowed else f"; {src} is final"
        raise IllegalTransitionError(
            f"{noun} {entity_id or ''} cannot move {self.field} from {src} to {dst}{hint}".replace("  ", " "),
            noun=noun,
            id=entity_id,
            field=self.field,
            from_state=src,
            to_state=dst,
        )
