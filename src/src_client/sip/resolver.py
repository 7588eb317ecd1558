"""Locating SIP servers (RFC 3263 §4): transport, then port and IP addresses, via dnspython.

The result is the whole ordered list of candidates, not just the first, so the transaction
layer can fail over to the next one when a transaction times out or a connection is refused
(RFC 3263 §4.3).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import dns.asyncresolver
import dns.exception
import dns.resolver

from .errors import SipError
from .transport import DEFAULT_PORTS, Address
from .uri import SipUri

__all__ = ["ResolutionError", "resolve", "resolve_literal"]

# RFC 3263 §4.1 service field of NAPTR records -> our transport name
_NAPTR_SERVICES: Final = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
# SRV prefix per transport (RFC 3263 §4.1 last paragraphs, RFC 2782)
_SRV_PREFIX: Final = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}
# The order SRV records are tried in when there is no NAPTR: the client's preference.
_SIP_FALLBACK: Final = ("udp", "tcp", "tls")
_DNS_ERRORS: Final = (
    dns.resolver.NXDOMAIN,
    dns.resolver.NoAnswer,
    dns.resolver.NoNameservers,
    dns.resolver.YXDOMAIN,
    dns.exception.Timeout,
)


class ResolutionError(SipError):
    """The URI names no reachable server (no records, or an unusable scheme/transport)."""


@dataclass(frozen=True, slots=True)
class _Srv:
    priority: int
    weight: int
    port: int
    target: str


async def resolve(
    uri: SipUri, *, resolver: dns.asyncresolver.Resolver | None = None
) -> list[Address]:
    """Ordered candidate addresses for a request to ``uri`` (RFC 3263 §4).

    An IP literal or an explicit port skips NAPTR/SRV; ``sips`` means TLS; ``;transport=``
    fixes the transport; ``;maddr=`` overrides the host.  With no ``resolver`` given, the
    system's DNS is used, and the hosts file as a last resort for A/AAAA (so ``localhost``
    and lab names work).  Raises ``ResolutionError`` when nothing usable is found.
    """
    literal = resolve_literal(uri)
    if literal is not None:
        return literal
    secure, target, transport = _target(uri)
    server_name = target.rstrip(".")
    dns_resolver = resolver or dns.asyncresolver.get_default_resolver()
    hosts_fallback = resolver is None

    if uri.port is not None:
        # §4.2: an explicit port: A/AAAA only, no SRV; UDP (sip) / TLS (sips) by default
        chosen = transport or ("tls" if secure else "udp")
        ips = await _addresses(dns_resolver, target, hosts_fallback)
        return _require([_address(chosen, ip, uri.port, server_name) for ip in ips], uri)

    if transport is not None:
        services = [(transport, _SRV_PREFIX[transport] + target)]
    else:
        services = await _naptr_services(dns_resolver, target, secure)
        if not services:
            order = ("tls",) if secure else _SIP_FALLBACK
            services = [(t, _SRV_PREFIX[t] + target) for t in order]

    found: list[Address] = []
    for service_transport, srv_name in services:
        for srv in _srv_order(await _srv_records(dns_resolver, srv_name)):
            for ip in await _addresses(dns_resolver, srv.target, hosts_fallback):
                found.append(_address(service_transport, ip, srv.port, server_name))
    if found:
        return _dedupe(found)

    # §4.2: no SRV at all -> A/AAAA of the host with the default port of the transport.
    chosen = transport or ("tls" if secure else "udp")
    ips = await _addresses(dns_resolver, target, hosts_fallback)
    return _require([_address(chosen, ip, DEFAULT_PORTS[chosen], server_name) for ip in ips], uri)


def resolve_literal(uri: SipUri) -> list[Address] | None:
    """The one candidate for a URI whose host (or ``maddr``) is an IP address, None when DNS
    is needed. §4.1/§4.2: the transport is UDP (sip) or TLS (sips) unless ``;transport=``
    says otherwise, the port the explicit one or the transport's default. Synchronous, so the
    endpoint places calls to IP literals without a coroutine for the lookup."""
    secure, target, transport = _target(uri)
    if not _is_ip(target):
        return None
    chosen = transport or ("tls" if secure else "udp")
    return [_address(chosen, target, uri.port or DEFAULT_PORTS[chosen], None)]


def _target(uri: SipUri) -> tuple[bool, str, str | None]:
    """(secure, host to look up, transport forced by the URI); ResolutionError when the URI
    cannot be routed at all."""
    if uri.scheme not in ("sip", "sips"):
        raise ResolutionError(f"cannot route a {uri.scheme}: URI")
    secure = uri.scheme == "sips"
    target = (uri.param("maddr") or uri.host).strip("[]")
    return secure, target, _transport_param(uri, secure)


def _transport_param(uri: SipUri, secure: bool) -> str | None:
    param = uri.transport
    if param is None:
        return None
    if param not in ("udp", "tcp", "tls"):
        raise ResolutionError(f"unsupported transport {param!r} in {uri}")
    if secure:
        # RFC 3261 §26.2.2 / RFC 5630: sips over TCP means TLS; sips over UDP is meaningless.
        if param == "udp":
            raise ResolutionError(f"sips URI with transport=udp: {uri}")
        return "tls"
    return param


@lru_cache(maxsize=1024)
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(transport: str, host: str, port: int, server_name: str | None) -> Address:
    return Address(transport, host, port, server_name=server_name if transport == "tls" else None)


def _require(addresses: list[Address], uri: SipUri) -> list[Address]:
    if not addresses:
        raise ResolutionError(f"no address found for {uri.host}")
    return addresses


def _dedupe(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


async def _query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[Any]:
    try:
        answer = await resolver.resolve(name, rdtype)
    except _DNS_ERRORS:
        return []
    return list(answer)


async def _naptr_services(
    resolver: dns.asyncresolver.Resolver, domain: str, secure: bool
) -> list[tuple[str, str]]:
    """(transport, SRV name) pairs in NAPTR order/preference, supported services only."""
    records = sorted(await _query(resolver, domain, "NAPTR"), key=lambda r: (r.order, r.preference))
    services: list[tuple[str, str]] = []
    for record in records:
        if record.flags.decode("ascii", "replace").lower() != "s":
            continue  # §4.1: only terminal "s" records lead to SRV; others are ignored
        transport = _NAPTR_SERVICES.get(record.service.decode("ascii", "replace").upper())
        if transport is None or (secure and transport != "tls"):
            continue
        services.append((transport, record.replacement.to_text()))
    return services


async def _srv_records(resolver: dns.asyncresolver.Resolver, name: str) -> list[_Srv]:
    records = [
        _Srv(r.priority, r.weight, r.port, r.target.to_text())
        for r in await _query(resolver, name, "SRV")
    ]
    # RFC 2782: a single record with target "." means the service is decidedly not available.
    return [r for r in records if r.target != "."]


def _srv_order(records: Sequence[_Srv], rng: random.Random | None = None) -> list[_Srv]:
    """RFC 2782 ordering: priority ascending, weighted random selection within a priority."""
    pick = rng or random
    ordered: list[_Srv] = []
    for priority in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight)
        while group:
            total = sum(r.weight for r in group)
            threshold = pick.randint(0, total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= threshold:
                    ordered.append(group.pop(index))
                    break
    return ordered


async def _addresses(
    resolver: dns.asyncresolver.Resolver, host: str, hosts_fallback: bool
) -> list[str]:
    """IPv4 then IPv6 addresses of ``host``; the system resolver if DNS knows none."""
    v4, v6 = await asyncio.gather(_query(resolver, host, "A"), _query(resolver, host, "AAAA"))
    ips = [r.address for r in v4] + [r.address for r in v6]
    if ips or not hosts_fallback:
        return ips
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host.rstrip("."), None, type=socket.SOCK_DGRAM
        )
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
