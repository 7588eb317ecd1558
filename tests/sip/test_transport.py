"""TransportLayer over real loopback sockets: UDP, TCP framing, connection reuse, bad peers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from src_client.sip.errors import SipParseError
from src_client.sip.transport import Address, TransportError, TransportLayer

HOST = "127.0.0.1"


def sip_message(tag: str, body: bytes = b"") -> bytes:
    head = (
        f"OPTIONS sip:peer@{HOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {HOST}:5060;branch=z9hG4bK{tag}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:a@{HOST}>;tag={tag}\r\n"
        f"To: <sip:b@{HOST}>\r\n"
        f"Call-ID: {tag}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Sink:
    """Collects what a TransportLayer reports."""

    messages: asyncio.Queue[tuple[bytes, Address, Address]] = field(default_factory=asyncio.Queue)
    errors: asyncio.Queue[tuple[Address, Exception]] = field(default_factory=asyncio.Queue)

    def on_message(self, data: bytes, remote: Address, local: Address) -> None:
        self.messages.put_nowait((data, remote, local))

    def on_error(self, remote: Address, exc: Exception) -> None:
        self.errors.put_nowait((remote, exc))

    async def message(self) -> tuple[bytes, Address, Address]:
        return await asyncio.wait_for(self.messages.get(), 5)

    async def error(self) -> tuple[Address, Exception]:
        return await asyncio.wait_for(self.errors.get(), 5)


Pair = tuple[TransportLayer, Sink, TransportLayer, Sink]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    a_sink, b_sink = Sink(), Sink()
    a = TransportLayer(a_sink.on_message, a_sink.on_error, idle_timeout=30)
    b = TransportLayer(b_sink.on_message, b_sink.on_error, idle_timeout=30)
    yield a, a_sink, b, b_sink
    await a.close()
    await b.close()


async def test_udp_datagrams_both_ways(pair: Pair) -> None:
    a, a_sink, b, b_sink = pair
    a_addr = await a.listen("udp", HOST, 0)
    b_addr = await b.listen("udp", HOST, 0)
    assert a.local_address("udp") == a_addr and a_addr.port != 0

    a.send(sip_message("u1"), b_addr)
    data, remote, local = await b_sink.message()
    assert data == sip_message("u1")
    assert remote == Address("udp", HOST, a_addr.port)
    assert local == b_addr

    b.send(sip_message("u2"), remote)
    data, remote, _ = await a_sink.message()
    assert data == sip_message("u2") and remote == b_addr
    assert a_sink.errors.empty() and b_sink.errors.empty()


async def test_udp_over_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error)
    try:
        try:
            v6 = await layer.listen("udp", "::1", 0)
        except OSError:
            pytest.skip("::1 not configured")
        await layer.listen("udp", HOST, 0)
        layer.send(b"ping-v6", v6)
        data, remote, local = await sink.message()
        assert data == b"ping-v6" and remote.host == "::1" and local == v6
        assert str(v6).startswith("udp:[::1]:")
    finally:
        await layer.close()


async def test_send_errors_are_reported_not_raised(
    pair: Pair,
) -> None:
    a, a_sink, _, _ = pair
    await a.listen("udp", HOST, 0)
    a.send(b"x", Address("udp", "sip.example.com", 5060))
    remote, exc = await a_sink.error()
    assert remote.host == "sip.example.com" and isinstance(exc, TransportError)

    a.send(b"x" * 70000, Address("udp", HOST, 5060))
    _, exc = await a_sink.error()
    assert "size limit" in str(exc)

    a.send(b"x", Address("sctp", HOST, 5060))
    _, exc = await a_sink.error()
    assert isinstance(exc, TransportError)


async def test_tcp_connection_is_reused_in_both_directions(
    pair: Pair,
) -> None:
    a, a_sink, b, b_sink = pair
    b_addr = await b.listen("tcp", HOST, 0)
    # Sent before the connection exists: queued, then flushed in order on one connection.
    for i in range(3):
        a.send(sip_message(f"t{i}", b"body%d" % i), b_addr)
    received = [await b_sink.message() for _ in range(3)]
    assert [m[0] for m in received] == [sip_message(f"t{i}", b"body%d" % i) for i in range(3)]
    remotes = {m[1] for m in received}
    assert len(remotes) == 1
    (a_remote,) = remotes
    assert a.connection_count() == 1 and b.connection_count() == 1

    # The reply goes back over the inbound connection (RFC 3261 §18.2.2): no new connection.
    b.send(sip_message("reply"), a_remote)
    data, remote, local = await a_sink.message()
    assert data == sip_message("reply")
    assert remote == b_addr and local.port == a_remote.port
    a.send(sip_message("again"), b_addr)
    assert (await b_sink.message())[1] == a_remote
    assert a.connection_count() == 1 and b.connection_count() == 1


async def test_tcp_framing_of_split_and_coalesced_writes() -> None:
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error)
    addr = await layer.listen("tcp", HOST, 0)
    try:
        reader, writer = await asyncio.open_connection(HOST, addr.port)
        one, two = sip_message("s1", b"hello"), sip_message("s2", b"world!")
        stream = b"\r\n\r\n" + one + two  # a CRLF keep-alive, then two messages in one write
        writer.write(stream[:7])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(stream[7:60])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(stream[60:])
        await writer.drain()
        assert (await sink.message())[0] == one
        assert (await sink.message())[0] == two
        # RFC 5626 §4.4.1: the CRLFCRLF ping is answered with a CRLF pong
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.write(b"\r\n\r\n\r\n\r\n")  # two more pings
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"\r\n\r\n"
        writer.close()
        await writer.wait_closed()
        assert sink.errors.empty()
    finally:
        await layer.close()


async def test_bad_peer_loses_only_its_own_connection() -> None:
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error, max_message_size=4096)
    addr = await layer.listen("tcp", HOST, 0)
    try:
        good_reader, good_writer = await asyncio.open_connection(HOST, addr.port)
        bad_reader, bad_writer = await asyncio.open_connection(HOST, addr.port)
        huge_reader, huge_writer = await asyncio.open_connection(HOST, addr.port)

        # No Content-Length (mandatory on streams), and a header section over the size limit.
        bad_writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
        huge_writer.write(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 5000)
        good_writer.write(sip_message("ok1"))
        await asyncio.gather(bad_writer.drain(), huge_writer.drain(), good_writer.drain())

        assert await asyncio.wait_for(bad_reader.read(), 5) == b""  # closed by the layer
        assert await asyncio.wait_for(huge_reader.read(), 5) == b""
        errors = [await sink.error(), await sink.error()]
        assert all(isinstance(exc, SipParseError) for _, exc in errors)
        assert {exc.reason for _, exc in errors if isinstance(exc, SipParseError)} == {
            "Missing Content-Length",
            "Message Too Large",
        }

        data, remote, _ = await sink.message()
        assert data == sip_message("ok1")
        layer.send(sip_message("still-served"), remote)
        assert await asyncio.wait_for(
            good_reader.readexactly(len(sip_message("still-served"))), 5
        ) == sip_message("still-served")
        good_writer.close()
        for w in (bad_writer, huge_writer, good_writer):
            w.close()
    finally:
        await layer.close()


async def test_exception_in_on_message_goes_to_on_error() -> None:
    errors: list[Exception] = []
    delivered: list[bytes] = []

    def on_message(data: bytes, remote: Address, local: Address) -> None:
        delivered.append(data)
        if data == b"boom":
            raise RuntimeError("handler bug")

    layer = TransportLayer(on_message, lambda remote, exc: errors.append(exc))
    addr = await layer.listen("udp", HOST, 0)
    try:
        layer.send(b"boom", addr)
        layer.send(b"fine", addr)
        for _ in range(100):
            if len(delivered) == 2:
                break
            await asyncio.sleep(0.01)
        assert delivered == [b"boom", b"fine"]
        assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    finally:
        await layer.close()


async def test_connection_refused_is_reported() -> None:
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error)
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        closed_port = probe.getsockname()[1]
    try:
        target = Address("tcp", HOST, closed_port)
        layer.send(sip_message("r1"), target)
        layer.send(sip_message("r2"), target)
        remote, exc = await sink.error()
        assert remote == target and isinstance(exc, TransportError)
        assert "2 message(s) dropped" in str(exc)
        assert layer.connection_count() == 0
    finally:
        await layer.close()


async def test_idle_connections_are_closed() -> None:
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error, idle_timeout=0.2)
    addr = await layer.listen("tcp", HOST, 0)
    try:
        reader, writer = await asyncio.open_connection(HOST, addr.port)
        writer.write(sip_message("idle"))
        await writer.drain()
        await sink.message()
        assert layer.connection_count() == 1
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert layer.connection_count() == 0
        writer.close()
    finally:
        await layer.close()


async def test_listen_rejects_misconfiguration() -> None:
    layer = TransportLayer(lambda d, r, lo: None)
    try:
        with pytest.raises(ValueError):
            await layer.listen("tls", HOST, 0)
        with pytest.raises(ValueError):
            await layer.listen("sctp", HOST, 0)
    finally:
        await layer.close()


async def test_send_after_close_is_an_error_not_an_exception() -> None:
    sink = Sink()
    layer = TransportLayer(sink.on_message, sink.on_error)
    addr = await layer.listen("tcp", HOST, 0)
    await layer.close()
    layer.send(b"late", addr)
    _, exc = await sink.error()
    assert isinstance(exc, TransportError)
