"""Where pushes may go. A push endpoint is a URL any signed-in client writes, so without a
fence the service would POST, from inside its network, to whatever it names: the cloud's
metadata service (169.254.169.254), its own database port on loopback, a private admin panel.
In production (`public_only`) a push reaches only public addresses: an endpoint naming a
private, loopback, link-local or reserved address (or `localhost`) is refused when subscribed,
a name is checked again after it is resolved at each push (the answer may have changed since:
DNS rebinding), and a push service's redirect is not followed (RFC 8030's answer is 201)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class PrivateAddress(aiohttp.ClientError):
    """The push would reach an address that is not public, or follow a redirect."""


def is_public(host: str) -> bool:
    """Whether `host`, a name or an address literal of a URL, may be the host of a push endpoint
    as written (a name is checked again once resolved)."""
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


def _global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_global and not address.is_multicast


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
    raise PrivateAddress(f"the push service redirected to {where}: not followed")


def push_session(public_only: bool) -> aiohttp.ClientSession:
    """The session pushes go out on: fenced to public addresses when `public_only`."""
    if not public_only:
        return aiohttp.ClientSession()
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_private_literal)  # literals skip the resolver
    trace.on_request_redirect.append(_refuse_redirect)
    connector = aiohttp.TCPConnector(resolver=PublicResolver())
    return aiohttp.ClientSession(connector=connector, trace_configs=[trace])
