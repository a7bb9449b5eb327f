"""API keys for the REST API: shown once at creation, stored as SHA-256 hashes, each with a scope.

A key looks like ``hw_<8 char prefix>_<32 char secret>``; the prefix is stored in clear so an
operator can tell keys apart in listings without ever seeing a usable key again. What a key may do
is its scope (:mod:`hubwire.api.scopes`); nothing here ever returns a key or its hash after creation.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hubwire.api.scopes import Scope, parse_scope
from hubwire.errors import AuthenticationError, NotFoundError, ValidationError
from hubwire.hub import Hub
from hubwire.store.events import iso
from hubwire.store.ids import ALPHABET, new_id
from hubwire.store.tables import api_keys

__all__ = ["ApiKey", "create_api_key", "list_api_keys", "revoke_api_key", "verify_api_key"]

# ``last_used_at`` is written at most this often per key: a write on every request would put the
# REST API's reads behind SQLite's one writer for a figure nobody needs to the second.
LAST_USED_RESOLUTION = 60.0


class _VerifiedKeys:
    """Keys this process verified lately (a hub service): the hash of a key -> its record and when.

    Only callers that accept a revocation seen late use it (``max_age`` of :func:`verify_api_key`:
    the collect routes, ``HUBWIRE_COLLECT_KEY_CACHE_SECONDS``); a key revoked in this process is
    forgotten at once, one revoked by another process is refused at most ``max_age`` seconds later.

    Concurrent requests with a key not verified lately wait for one read (:meth:`read`): a site's
    beacons arriving together at start-up, or as a verification expires, made one read and one
    ``last_used_at`` write each (64 concurrent requests: 0.3 s of the server's CPU).
    """

    def __init__(self) -> None:
        self._by_hash: dict[str, tuple[ApiKey, float]] = {}
        self._reading: dict[str, asyncio.Task[ApiKey]] = {}
        self._revocations = 0  # a read begun before a revocation here is not kept

    def get(self, digest: str, now: float, max_age: float) -> ApiKey | None:
        hit = self._by_hash.get(digest)
        if hit is None or not 0 <= now - hit[1] < max_age:
            return None
        return hit[0]

    async def read(self, digest: str, now: float, read: Callable[[], Awaitable[ApiKey]]) -> ApiKey:
        """``read()``'s answer, kept, and shared by the callers that ask for ``digest`` meanwhile.

        The read is a task of its own: a caller that goes away does not cancel it for the others.
        """
        task = self._reading.get(digest)
        if task is None:
            task = self._reading[digest] = asyncio.ensure_future(self._keep(digest, now, read))
            task.add_done_callback(functools.partial(self._read_done, digest))
        return await asyncio.shield(task)

    def _read_done(self, digest: str, task: asyncio.Task[ApiKey]) -> None:
        if self._reading.get(digest) is task:  # a revocation may have let a newer read take its place
            del self._reading[digest]

    async def _keep(self, digest: str, now: float, read: Callable[[], Awaitable[ApiKey]]) -> ApiKey:
        revocations = self._revocations
        key = await read()
        if revocations == self._revocations:
            if len(self._by_hash) >= 10_000:  # bounded: start again rather than grow
                self._by_hash.clear()
            self._by_hash[digest] = (key, now)
        return key

    def forget(self, key_id: str) -> None:
        self._revocations += 1
        self._reading.clear()
        self._by_hash = {d: hit for d, hit in self._by_hash.items() if hit[0].id != key_id}


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    scope: Scope
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scope": self.scope.value,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at) if self.last_used_at else None,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
        }


def _record(row: sa.Row[Any], last_used_at: float | None = None) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        row.prefix,
        Scope(row.scope),
        row.created_at,
        last_used_at if last_used_at is not None else row.last_used_at,
        row.revoked_at,
    )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _token(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


async def create_api_key(hub: Hub, name: str = "default", scope: Scope | str = Scope.ADMIN) -> tuple[ApiKey, str]:
    """Create a key; returns its record and the key itself, which is never shown again.

    ``scope`` defaults to admin, what every key could do before scopes (and what the operator
    running this, who holds the database, can do anyway); hand out narrower keys by choice.
    """
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ValidationError.single("name", "length", "a key name is 1 to 200 characters")
    granted = parse_scope(scope)
    prefix = _token(8)
    # A collect key is publishable (it sits in web pages): ``pk_`` says so at a glance.
    key = f"{'pk' if granted is Scope.COLLECT else 'hw'}_{prefix}_{_token(32)}"
    now = hub.clock()
    record = ApiKey(new_id("key"), name, prefix, granted, now, None, None)
    async with hub.transaction() as tx:
        await tx.conn.execute(
            api_keys.insert().values(
                id=record.id, name=name, prefix=prefix, hash=_hash(key), scope=granted.value, created_at=now
            )
        )
    return record, key


async def verify_api_key(hub: Hub, key: str | None, *, max_age: float = 0.0) -> ApiKey:
    """The record of a valid, unrevoked key; AuthenticationError otherwise.

    ``max_age`` > 0: a key this process verified less than ``max_age`` seconds ago passes without
    reading the database (so a revocation made by another process is seen up to ``max_age`` late).
    """
    if not key:
        raise AuthenticationError(
            "missing API key: send Authorization: Bearer <key> (create one with `hubwire apikey create`)"
        )
    digest, now = _hash(key), hub.clock()
    if max_age <= 0:
        return await _read_key(hub, digest, now)
    verified = hub.service(_VerifiedKeys)
    if (hit := verified.get(digest, now, max_age)) is not None:
        return hit
    return await verified.read(digest, now, lambda: _read_key(hub, digest, now))


async def _read_key(hub: Hub, digest: str, now: float) -> ApiKey:
    """The record of the key with this hash, its ``last_used_at`` brought up to date; AuthenticationError
    when there is none or it is revoked."""
    async with hub.read() as conn:
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.hash == digest))).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API key")
    last_used = row.last_used_at
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        last_used = now
        async with hub.transaction() as tx:
            await tx.conn.execute(api_keys.update().where(api_keys.c.id == row.id).values(last_used_at=now))
    return _record(row, last_used)


async def list_api_keys(hub: Hub) -> list[ApiKey]:
    async with hub.read() as conn:
        rows = (await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))).all()
    return [_record(r) for r in rows]


async def revoke_api_key(hub: Hub, key_id: str) -> ApiKey:
    """Revoke a key (requests with it are refused from now on); returns its record."""
    async with hub.transaction() as tx:
        row = (
            await tx.conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=hub.clock())
                .returning(*api_keys.c)
            )
        ).first()
    hub.service(_VerifiedKeys).forget(key_id)
    if row is None:
        raise NotFoundError(f"no active API key {key_id}", id=key_id)
    return _record(row)
