"""Who a client is, for everything counted per client (login and signup limits, open
connections): its address, an IPv6 one by its /64, the block one subscriber usually holds (a
new address from it is no new client)."""

from __future__ import annotations

import ipaddress
from typing import Any

import sanic


def client_key(request: sanic.Request[Any, Any]) -> str:
    """The peer's address (or the one a trusted proxy reports: Sanic applies PROXIES_COUNT),
    as a client."""
    return client_of(peer_address(request))


def peer_address(request: sanic.Request[Any, Any]) -> str:
    """Sanic's `remote_addr or ip`: the address a trusted proxy reports, else the peer's. With
    none of Sanic's PROXIES_COUNT, REAL_IP_HEADER and FORWARDED_SECRET set, remote_addr is
    always empty, and is not computed (it parses the forwarding headers through Sanic's config
    lookups, some 4 µs a GET)."""
    config = request.app.config
    if (
        config.get("PROXIES_COUNT")
        or config.get("REAL_IP_HEADER")
        or config.get("FORWARDED_SECRET")
    ):
        return str(request.remote_addr or request.ip)
    return str(request.ip)


def client_of(raw: str) -> str:
    """The client an address names; a port some proxies append (`192.0.2.1:51234`,
    `[2001:db8::1]:443`) is not part of it. Anything that is no IP address is its own name."""
    host = raw[1:].partition("]")[0] if raw.startswith("[") else raw
    if host.count(":") == 1:  # IPv4 and a port; a bare IPv6 address has two colons or more
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
