"""The SSRF guard for user-supplied URLs (webhook endpoints): which addresses Hubwire may dial.

By default an address is refused when it is loopback, private (RFC 1918), link-local (the cloud
metadata address 169.254.169.254 included), CGNAT (100.64/10), multicast, unspecified, reserved
or otherwise not globally routable, unique-local or site-local IPv6, and when an IPv6 address
embeds a refused IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``,
6to4 ``2002::/16``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, Teredo). Only ``http`` and
``https`` URLs are accepted.

The check runs twice: at connect time on what the host resolves to (a clear 4xx error naming the
reason), and at dial time on the addresses actually dialled (:class:`GuardedResolver`, so a DNS
answer that changes in between — DNS rebinding — is caught). ``HUBWIRE_ALLOW_PRIVATE_NETWORKS=1``
opens the guard entirely (local development, tests with loopback receivers);
``HUBWIRE_ALLOWED_NETWORKS=10.1.0.0/16,fd00::/8`` opens it for the listed networks only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hubwire.errors import ValidationError

if TYPE_CHECKING:
    from hubwire.settings import Settings

__all__ = ["AddressPolicy", "BlockedAddress", "GuardedResolver", "blocked_reason", "check_url", "split_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
SCHEMES = ("http", "https")


class BlockedAddress(OSError):
    """A dial refused by the guard; an OSError so aiohttp reports it as a connection error."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused to connect to {host}: {reason} (SSRF guard)")
        self.host = host
        self.reason = reason


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    for net in _NAT64:
        if ip in net:
            return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPAT and int(ip) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be dialled by default (``"loopback"``, ``"private"``...), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None:
            form, v4 = embedded
            inner = blocked_reason(v4)
            # Translation prefixes are only safe when the address they carry is.
            return f"{form} form of a {inner} address ({v4})" if inner else None
        if ip in _UNIQUE_LOCAL:
            return "unique-local"
        if ip in _SITE_LOCAL:
            return "site-local"
    elif ip in _CGNAT:
        return "CGNAT"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_reserved or (ip.version == 4 and int(ip) == 0xFFFFFFFF):
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """What may be dialled: everything (``allow_private``), or public addresses plus ``allowed`` networks."""

    allow_private: bool = False
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(
            settings.allow_private_networks,
            tuple(ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks),
        )

    def refusal(self, ip: IPAddress) -> str | None:
        """The reason ``ip`` is refused under this policy, or None when it may be dialled."""
        if self.allow_private:
            return None
        if any(ip.version == n.version and ip in n for n in self.allowed):
            return None
        return blocked_reason(ip)


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; ValidationError naming the problem otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError.single("url", "invalid_url", f"invalid url: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValidationError.single(
            "url", "unsupported_scheme", f"url scheme must be http or https, not {scheme or 'missing'!r}"
        )
    host = parts.hostname
    if not host:
        raise ValidationError.single("url", "invalid_url", "url has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def check_url(url: str, policy: AddressPolicy, *, resolve: bool = True) -> None:
    """Refuse ``url`` (ValidationError, code ``ssrf_blocked``) if it is not http(s) or reaches a refused address.

    With ``resolve`` the host name is resolved and every address it resolves to is checked.
    """
    _, host, port = split_url(url)
    ip = _literal(host)
    addresses: list[IPAddress]
    if ip is not None:
        addresses = [ip]
    elif not resolve or policy.allow_private:
        return
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ValidationError.single("url", "unresolvable_host", f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for addr in addresses:
        reason = policy.refusal(addr)
        if reason is not None:
            shown = host if str(addr) == host.strip("[]") else f"{host} ({addr})"
            raise ValidationError.single(
                "url",
                "ssrf_blocked",
                f"refusing {shown}: a {reason} address; set HUBWIRE_ALLOW_PRIVATE_NETWORKS=1 "
                "or list the network in HUBWIRE_ALLOWED_NETWORKS to allow it",
                reason=reason,
            )


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops refused addresses at dial time, and fails if none is left."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        reasons: list[str] = []
        for r in results:
            reason = self.policy.refusal(ipaddress.ip_address(r["host"].split("%")[0]))
            if reason is None:
                kept.append(r)
            else:
                reasons.append(f"{r['host']} is {reason}")
        if not kept:
            raise BlockedAddress(host, "; ".join(reasons) or "no address")
        return kept

    async def close(self) -> None:
        await self.inner.close()
