"""The SSRF guard for user-supplied URLs (webhook endpoints, provider base URLs): which addresses Hubwire may dial.

By default an address is refused when it is loopback, private (RFC 1918), link-local (the cloud
metadata address 169.254.169.254 included), CGNAT (100.64/10), multicast, unspecified, reserved
or otherwise not globally routable, unique-local or site-local IPv6, and when an IPv6 address
embeds a refused IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``,
6to4 ``2002::/16``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, Teredo). Only ``http`` and
``https`` URLs are accepted.

A URL is normalised before any check, the way a resolver would read its host (:func:`normalize_url`):
UTS-46 mapping (ideographic full stops, fullwidth and circled digits, uppercase), no trailing dot,
IDNA A-labels, and an IPv4 address in any ``inet_aton`` spelling (``2130706433``, ``0x7f000001``,
``0177.0.0.1``, ``127.1``) as a dotted quad; what is stored and dialled is the normalised URL.

The check runs twice: at connect time on what the host resolves to (a clear 4xx error naming the
reason), and at dial time on the addresses actually dialled (:class:`GuardedResolver` for aiohttp,
:class:`GuardedBackend` for httpx, so a DNS answer that changes in between — DNS rebinding — is
caught). ``HUBWIRE_ALLOW_PRIVATE_NETWORKS=1``
opens the guard entirely (local development, tests with loopback receivers);
``HUBWIRE_ALLOWED_NETWORKS=10.1.0.0/16,fd00::/8`` opens it for the listed networks only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import idna
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hubwire.errors import ValidationError

if TYPE_CHECKING:
    from hubwire.settings import Settings

__all__ = [
    "AddressPolicy",
    "BlockedAddress",
    "GuardedBackend",
    "GuardedResolver",
    "blocked_reason",
    "check_url",
    "describe",
    "normalize_host",
    "normalize_url",
    "refusal",
    "split_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
SCHEMES = ("http", "https")
# What inet_aton (and so getaddrinfo) reads as an IPv4 address: digits, hex and dots only.
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
# Characters no host may hold (a backslash is a separator to WHATWG parsers, not to urlsplit).
_BAD_AUTHORITY = re.compile(r"[\\\s\x00-\x1f\x7f]")
_PHRASES = {
    "loopback": "a loopback address",
    "private": "a private address",
    "link-local": "a link-local address",
    "CGNAT": "a CGNAT (shared, RFC 6598) address",
    "multicast": "a multicast address",
    "unspecified": "an unspecified address",
    "reserved": "a reserved address",
    "unique-local": "a unique-local address",
    "site-local": "a site-local address",
    "not globally routable": "an address that is not globally routable",
}
_HOW_TO_OPEN = "set HUBWIRE_ALLOW_PRIVATE_NETWORKS=1 or list the network in HUBWIRE_ALLOWED_NETWORKS to allow it"


def describe(reason: str) -> str:
    """``reason`` (from :func:`blocked_reason`) as a noun phrase with its article: ``"an unspecified address"``."""
    phrase = _PHRASES.get(reason)
    if phrase is not None:
        return phrase
    return ("an " if reason[:1] in "AEIOUaeiou" else "a ") + reason


def refusal(host: str, ip: IPAddress, reason: str) -> str:
    """The one sentence that refuses ``host`` (resolving to ``ip``) and says how to open the guard."""
    shown = host if str(ip) == host.strip("[]") else f"{host} ({ip})"
    return f"refusing {shown}: {describe(reason)}; {_HOW_TO_OPEN}"


class BlockedAddress(OSError):
    """A dial refused by the guard; an OSError so aiohttp reports it as a connection error."""

    def __init__(self, host: str, ip: IPAddress | None, reason: str) -> None:
        super().__init__(refusal(host, ip, reason) if ip is not None else f"refusing {host}: {reason}")
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
            return f"{form} form of {describe(inner)} ({v4})" if inner else None
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


def _invalid(message: str) -> ValidationError:
    return ValidationError.single("url", "invalid_url", f"invalid url: {message}")


def normalize_host(host: str) -> str:
    """``host`` as the resolver reads it (see the module docstring); ValidationError when it has no valid form."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in literal:
        try:
            ip6 = ipaddress.IPv6Address(literal)
        except ValueError:
            raise _invalid(f"{host!r} is not an IPv6 address") from None
        # Python before 3.13 writes ::ffff:127.0.0.1 as ::ffff:7f00:1; the dotted form says what it is.
        return f"::ffff:{ip6.ipv4_mapped}" if ip6.ipv4_mapped else str(ip6)
    try:
        mapped = idna.uts46_remap(literal, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise _invalid(f"host {host!r}: {exc}") from None
    if mapped.endswith("."):
        mapped = mapped[:-1]
    labels = mapped.split(".")
    if not mapped or "" in labels:
        raise _invalid(f"host {host!r} has an empty label")
    if _NUMERIC_HOST.fullmatch(mapped):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(mapped)))
        except OSError:
            pass  # not an address: a name made of hex letters, resolved like any other
    if not mapped.isascii():
        try:
            mapped = idna.encode(mapped).decode("ascii")
        except idna.IDNAError as exc:
            raise _invalid(f"host {host!r}: {exc}") from None
    if not _HOST_NAME.fullmatch(mapped):  # %-escapes and the like: no resolver reads them the same way
        raise _invalid(f"host {host!r} is not a host name (letters, digits, '-', '_' and dots)")
    return mapped


def normalize_url(url: str) -> str:
    """``url`` with its host normalised (what is checked is what is stored and dialled); ValidationError if invalid."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValidationError.single(
            "url", "unsupported_scheme", f"url scheme must be http or https, not {scheme or 'missing'!r}"
        )
    if _BAD_AUTHORITY.search(parts.netloc):
        raise _invalid("the host part holds a backslash, a space or a control character")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0] if not hostport.endswith("]") and ":" in hostport else hostport
    if not host:
        raise ValidationError.single("url", "invalid_url", "url has no host")
    norm = normalize_host(host)
    netloc = f"[{norm}]" if ":" in norm else norm
    if port is not None:
        netloc = f"{netloc}:{port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, its host normalised; ValidationError naming the problem otherwise."""
    parts = urlsplit(normalize_url(url))
    host = parts.hostname or ""
    return parts.scheme, host, parts.port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_url(url: str, policy: AddressPolicy, *, resolve: bool = True, field: str = "url") -> str:
    """The normalised ``url``; ValidationError (``ssrf_blocked``) if it is not http(s) or reaches a refused address.

    With ``resolve`` the host name is resolved and every address it resolves to is checked.
    ``field`` names the input in the error (``url``, ``api_base_url``).
    """
    try:
        normalized = normalize_url(url)
    except ValidationError as exc:
        raise ValidationError.single(field, exc.errors[0].code, exc.message) from None
    _, host, port = split_url(normalized)
    ip = _literal(host)
    addresses: list[IPAddress]
    if ip is not None:
        addresses = [ip]
    elif not resolve or policy.allow_private:
        return normalized
    else:
        try:
            addresses = await _resolve(host, port)
        except OSError as exc:
            raise ValidationError.single(field, "unresolvable_host", f"cannot resolve {host}: {exc}") from None
    for addr in addresses:
        reason = policy.refusal(addr)
        if reason is not None:
            raise ValidationError.single(field, "ssrf_blocked", refusal(host, addr, reason), reason=reason)
    return normalized


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops refused addresses at dial time, and fails if none is left."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        refused: list[tuple[IPAddress, str]] = []
        kept: list[ResolveResult] = []
        for r in results:
            ip = ipaddress.ip_address(r["host"].split("%")[0])
            reason = self.policy.refusal(ip)
            if reason is None:
                kept.append(r)
            else:
                refused.append((ip, reason))
        if not kept:
            raise BlockedAddress(host, *refused[0]) if refused else BlockedAddress(host, None, "no address")
        return kept

    async def close(self) -> None:
        await self.inner.close()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves a host itself and dials only addresses the policy allows.

    It connects to the checked address (never to the name, which a second lookup could answer
    differently); TLS still verifies the certificate against the name, which httpcore passes as SNI.
    """

    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ip = _literal(host)
        try:
            addresses = [ip] if ip is not None else await _resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = [a for a in addresses if self.policy.refusal(a) is None]
        if not allowed:
            first = addresses[0]
            raise BlockedAddress(host, first, self.policy.refusal(first) or "no address")
        error: Exception | None = None
        for addr in allowed:
            try:
                return await self.inner.connect_tcp(
                    str(addr), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:  # the next allowed address may answer
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the SSRF guard dials TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
