"""Where the service's own outbound requests may go: pushes (SPEC §12) and webhook deliveries
(§13) are POSTed to URLs that signed-in clients write, so without a fence the service would
POST, from inside its network, to whatever they name: the cloud's metadata service
(169.254.169.254), its own database port on loopback, a private admin panel. In production
(`public_only`) they reach only public addresses: a URL naming a private, loopback, link-local
or reserved address (or `localhost`) is refused when it is registered, a name is checked again
after it is resolved at each request (the answer may have changed since: DNS rebinding) and the
connection goes to the very addresses checked, and a redirect is not followed."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class PrivateAddress(aiohttp.ClientError):
    """The request would reach an address that is not public, or follow a redirect."""


def is_public(host: str) -> bool:
    """Whether `host`, a name or an address literal of a URL, may be the host of a push endpoint
    or a webhook as written (a name is checked again once resolved)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:  # the legacy spellings getaddrinfo takes too: 2130706433, 0x7f.1, 127.1
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return True  # a name: its addresses are checked at each push
    return _global(address)


# IPv6 prefixes that carry an IPv4 address in their low 32 bits: NAT64's well-known prefix (on
# a NAT64 network 64:ff9b::7f00:1 reaches 127.0.0.1) and the deprecated IPv4-compatible ::/96.
EMBEDDING = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))
# Local-use NAT64 (RFC 8215): translates into a network of its own, never public.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# IETF protocol assignments: not public but for the two anycast addresses registered as such
# (Python 3.11's tables call the whole block public).
PROTOCOL = ipaddress.IPv4Network("192.0.0.0/24")
PROTOCOL_GLOBAL = (ipaddress.IPv4Address("192.0.0.9"), ipaddress.IPv4Address("192.0.0.10"))


def _global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a request to `address` reaches the public internet: an IPv6 address carrying an
    IPv4 one (IPv4-mapped, 6to4, NAT64, IPv4-compatible) is as public as the IPv4 it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64 or address.teredo is not None:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in prefix for prefix in EMBEDDING):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _global(embedded) and address.is_global
    elif address in PROTOCOL and address not in PROTOCOL_GLOBAL:
        return False
    return address.is_global and not address.is_multicast


class PublicResolver(AbstractResolver):
    """The default resolver, keeping only public addresses (none left: PrivateAddress)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if _global(ipaddress.ip_address(r["host"].split("%")[0]))]
        if not public:
            raise PrivateAddress(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


async def _refuse_private_literal(_session: Any, _context: Any, params: Any) -> None:
    host = params.url.raw_host or ""
    if not is_public(host):
        raise PrivateAddress(f"{host} is not a public address")


async def _refuse_redirect(_session: Any, _context: Any, params: Any) -> None:
    where = params.response.headers.get("Location")
    raise PrivateAddress(f"the far side redirected to {where}: not followed")


async def resolves_public(host: str, port: int) -> bool:
    """Whether every address `host` resolves to now is public (False when it resolves to none):
    a target is checked so when it is registered, and again at each request (PublicResolver)."""
    if not is_public(host):
        return False
    resolver = DefaultResolver()
    try:
        found = await resolver.resolve(host.strip("[]"), port, socket.AF_UNSPEC)
    except OSError:
        return False
    finally:
        await resolver.close()
    return bool(found) and all(
        _global(ipaddress.ip_address(r["host"].split("%")[0])) for r in found
    )


def egress_session(public_only: bool) -> aiohttp.ClientSession:
    """The session pushes and deliveries go out on: fenced to public addresses when
    `public_only`."""
    if not public_only:
        return aiohttp.ClientSession()
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_private_literal)  # literals skip the resolver
    trace.on_request_redirect.append(_refuse_redirect)
    connector = aiohttp.TCPConnector(resolver=PublicResolver())
    return aiohttp.ClientSession(connector=connector, trace_configs=[trace])
