"""RFC 3263 server location with DNS answers built in-process (no DNS server is reachable)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import dns.asyncresolver
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from src_client.sip.resolver import ResolutionError, _Srv, _srv_order, resolve, resolve_literal
from src_client.sip.transport import Address
from src_client.sip.uri import parse_uri

Zone = Mapping[tuple[str, str], Sequence[str]]


class ZoneResolver(dns.asyncresolver.Resolver):
    """dnspython's async resolver with resolve() answering from an in-memory zone."""

    def __init__(self, zone: Zone) -> None:
        super().__init__(configure=False)
        self.zone = {
            (name.lower().rstrip("."), rdtype): rdatas for (name, rdtype), rdatas in zone.items()
        }
        self.queries: list[tuple[str, str]] = []

    async def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        key = (str(qname).lower().rstrip("."), str(rdtype))
        self.queries.append(key)
        texts = self.zone.get(key)
        if texts is None:
            raise dns.resolver.NXDOMAIN
        rdtype_value = dns.rdatatype.from_text(key[1])
        return [
            dns.rdata.from_text(dns.rdataclass.IN, rdtype_value, text, origin=dns.name.root)
            for text in texts
        ]


ZONE: Zone = {
    ("example.com", "NAPTR"): [
        '20 10 "s" "SIP+D2U" "" _sip._udp.example.com.',
        '10 10 "s" "SIPS+D2T" "" _sips._tcp.example.com.',
        '10 20 "s" "SIP+D2T" "" _sip._tcp.example.com.',
        '5 10 "s" "SIP+D2W" "" _sip._ws.example.com.',  # unsupported service: skipped
        '5 10 "u" "E2U+sip" "!^.*$!sip:x@y!" .',  # not a terminal "s" record: skipped
    ],
    ("_sips._tcp.example.com", "SRV"): ["0 0 5061 tls1.example.com."],
    ("_sip._tcp.example.com", "SRV"): ["0 0 5080 tcp1.example.com."],
    ("_sip._udp.example.com", "SRV"): [
        "20 0 5070 udp2.example.com.",
        "10 0 5060 udp1.example.com.",
    ],
    ("tls1.example.com", "A"): ["192.0.2.10"],
    ("tls1.example.com", "AAAA"): ["2001:db8::10"],
    ("tcp1.example.com", "A"): ["192.0.2.20"],
    ("udp1.example.com", "A"): ["192.0.2.30"],
    ("udp2.example.com", "A"): ["192.0.2.31"],
    ("example.com", "A"): ["192.0.2.1"],
    # only SRV, no NAPTR
    ("_sip._tcp.srvonly.net", "SRV"): ["0 0 5090 pbx.srvonly.net."],
    ("_sips._tcp.srvonly.net", "SRV"): ["0 0 5091 pbx.srvonly.net."],
    ("pbx.srvonly.net", "A"): ["198.51.100.7"],
    # only an address record
    ("plain.org", "A"): ["203.0.113.5"],
    ("plain.org", "AAAA"): ["2001:db8::5"],
    # the service is explicitly not offered (RFC 2782 target ".")
    ("_sip._udp.dead.org", "SRV"): ["0 0 0 ."],
    ("dead.org", "A"): ["203.0.113.9"],
}


async def run(uri: str, zone: Zone = ZONE) -> tuple[list[Address], ZoneResolver]:
    resolver = ZoneResolver(zone)
    return await resolve(parse_uri(uri), resolver=resolver), resolver


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:alice@192.0.2.1", Address("udp", "192.0.2.1", 5060)),
        ("sip:alice@192.0.2.1:5080", Address("udp", "192.0.2.1", 5080)),
        ("sip:alice@192.0.2.1;transport=tcp", Address("tcp", "192.0.2.1", 5060)),
        ("sip:alice@192.0.2.1;transport=TLS", Address("tls", "192.0.2.1", 5061)),
        ("sips:alice@192.0.2.1", Address("tls", "192.0.2.1", 5061)),
        ("sips:alice@192.0.2.1;transport=tcp", Address("tls", "192.0.2.1", 5061)),
        ("sip:[2001:db8::1]:5070", Address("udp", "2001:db8::1", 5070)),
        ("sip:bob@example.com;maddr=192.0.2.99", Address("udp", "192.0.2.99", 5060)),
    ],
)
async def test_ip_literals_short_circuit_dns(uri: str, expected: Address) -> None:
    addresses, resolver = await run(uri)
    assert addresses == [expected]
    assert resolver.queries == []
    assert resolve_literal(parse_uri(uri)) == [expected]  # the same answer without a coroutine


def test_host_names_are_not_literals() -> None:
    assert resolve_literal(parse_uri("sip:bob@example.com:5099")) is None
    with pytest.raises(ResolutionError):
        resolve_literal(parse_uri("tel:+15551234567"))


async def test_explicit_port_skips_naptr_and_srv() -> None:
    addresses, resolver = await run("sip:bob@example.com:5099")
    assert addresses == [Address("udp", "192.0.2.1", 5099)]
    assert {rdtype for _, rdtype in resolver.queries} == {"A", "AAAA"}


async def test_naptr_then_srv_then_addresses_in_preference_order() -> None:
    addresses, resolver = await run("sip:bob@example.com")
    assert addresses == [
        Address("tls", "192.0.2.10", 5061, server_name="example.com"),
        Address("tls", "2001:db8::10", 5061, server_name="example.com"),
        Address("tcp", "192.0.2.20", 5080),
        Address("udp", "192.0.2.30", 5060),  # SRV priority 10 before 20
        Address("udp", "192.0.2.31", 5070),
    ]
    assert resolver.queries[0] == ("example.com", "NAPTR")
    assert ("_sip._ws.example.com", "SRV") not in resolver.queries


async def test_sips_uses_only_tls_naptr_records() -> None:
    addresses, _ = await run("sips:bob@example.com")
    assert {a.transport for a in addresses} == {"tls"}
    assert addresses[0] == Address("tls", "192.0.2.10", 5061, server_name="example.com")


async def test_transport_param_selects_the_srv_record() -> None:
    addresses, resolver = await run("sip:bob@example.com;transport=tcp")
    assert addresses == [Address("tcp", "192.0.2.20", 5080)]
    assert ("example.com", "NAPTR") not in resolver.queries


async def test_srv_without_naptr() -> None:
    addresses, _ = await run("sip:bob@srvonly.net")
    assert addresses == [
        Address("tcp", "198.51.100.7", 5090),
        Address("tls", "198.51.100.7", 5091, server_name="srvonly.net"),
    ]
    addresses, _ = await run("sips:bob@srvonly.net")
    assert addresses == [Address("tls", "198.51.100.7", 5091, server_name="srvonly.net")]


async def test_address_records_with_default_ports_when_no_srv() -> None:
    addresses, _ = await run("sip:bob@plain.org")
    assert addresses == [Address("udp", "203.0.113.5", 5060), Address("udp", "2001:db8::5", 5060)]
    addresses, _ = await run("sips:bob@plain.org")
    assert addresses[0] == Address("tls", "203.0.113.5", 5061, server_name="plain.org")
    addresses, _ = await run("sip:bob@plain.org;transport=tcp")
    assert addresses[0] == Address("tcp", "203.0.113.5", 5060)


async def test_srv_target_dot_means_not_offered() -> None:
    addresses, _ = await run("sip:bob@dead.org")
    assert addresses == [Address("udp", "203.0.113.9", 5060)]


@pytest.mark.parametrize(
    "uri",
    [
        "sip:bob@nowhere.invalid",
        "tel:+15551234567",
        "sip:bob@example.com;transport=sctp",
        "sips:bob@example.com;transport=udp",
    ],
)
async def test_unresolvable_or_unsupported_is_a_typed_error(uri: str) -> None:
    with pytest.raises(ResolutionError):
        await run(uri)


def test_srv_weights_follow_rfc2782() -> None:
    records = [_Srv(10, 90, 1, "heavy."), _Srv(10, 10, 2, "light."), _Srv(5, 0, 3, "first.")]
    rng = random.Random(7)
    firsts = [_srv_order(records, rng)[1].target for _ in range(2000)]
    assert all(_srv_order(records, rng)[0].target == "first." for _ in range(50))
    heavy = firsts.count("heavy.")
    assert 1600 < heavy < 1990  # ~90 % expected
    assert sorted(r.target for r in _srv_order(records, rng)) == ["first.", "heavy.", "light."]
