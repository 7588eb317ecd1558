"""SIP transports over asyncio: UDP, TCP and TLS (RFC 3261 §18, RFC 5246/8446 via Python ``ssl``).

The layer moves whole SIP messages as bytes and knows nothing of their meaning: the sans-IO
core above it parses, matches transactions and decides where replies go.  Everything that
can fail on the network (a refused connection, a TLS handshake, a peer sending garbage or
too much) is reported through ``on_error`` and only ever closes the one connection involved,
so one bad peer never disturbs the others and nothing is raised into the event loop.

Stream transports are framed by Content-Length (RFC 3261 §18.3) with H1's ``StreamFramer``.
Connections are reused per remote address, in both directions: a response or an in-dialog
request to a peer that connected to us goes back over that same connection (§18.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, cast

from .errors import SipParseError
from .message import StreamFramer

__all__ = [
    "DEFAULT_PORTS",
    "Address",
    "TransportError",
    "TransportLayer",
    "client_context",
    "server_context",
]

log = logging.getLogger(__name__)

DEFAULT_PORTS: Final = {"udp": 5060, "tcp": 5060, "tls": 5061}
_STREAM = frozenset({"tcp", "tls"})
_CONNECT_TIMEOUT = 10.0
_TLS_HANDSHAKE_TIMEOUT = 10.0
_MAX_UDP_PAYLOAD = 65507
# Socket buffers asked for UDP (the kernel caps them at net.core.rmem_max / wmem_max).  The
# default ~200 KB holds only a few hundred small datagrams once kernel overhead is counted: a
# loop that stalls for a moment (GC, a busy neighbour) would drop a burst and leave recovery
# to retransmission timers (T1 = 500 ms).
_UDP_BUFFER = 4 << 20
_PEER_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Address:
    """A transport endpoint.

    ``server_name`` is the host name a TLS peer's certificate must match (RFC 5922 §7.2: the
    domain of the URI that was resolved, not the IP address it resolved to).  It takes part
    in equality so that a connection verified for one name is never reused for another.
    """

    transport: str  # "udp" | "tcp" | "tls"
    host: str  # IP literal, no brackets
    port: int
    server_name: str | None = field(default=None, kw_only=True)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


class TransportError(Exception):
    """A message could not be sent or a connection failed; carried to ``on_error``."""


def client_context(
    *,
    cafile: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """TLS client context: TLS 1.2 minimum, 1.3 when the peer offers it, peer verified.

    ``cafile`` replaces the system trust store (a private SRS CA); ``certfile``/``keyfile``
    present a client certificate for mutual TLS.  ``verify=False`` exists for lab setups and
    must be asked for explicitly.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        ctx.load_cert_chain(certfile, keyfile)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_context(
    certfile: str,
    keyfile: str | None = None,
    *,
    cafile: str | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """TLS server context: TLS 1.2 minimum; clients verified against ``cafile`` when given."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        ctx.load_verify_locations(cafile=cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("require_client_cert needs a cafile to verify clients against")
    return ctx


@lru_cache(maxsize=1024)
def _ip_family(host: str) -> socket.AddressFamily | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, layer: TransportLayer) -> None:
        self.layer = layer
        self.transport: asyncio.DatagramTransport | None = None
        self.local = Address("udp", "", 0)
        self.family = socket.AF_INET
        self.sending_to: Address | None = None
        self.errors: socket.socket | None = None  # a duplicate of the socket, for its error queue
        # Peers send many datagrams each: reuse their Address objects (bounded, see below).
        self.peers: dict[tuple[str | int, ...], Address] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport, hence the cast.
        self.transport = cast(asyncio.DatagramTransport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = Address("udp", host, port)
        sock = transport.get_extra_info("socket")
        self.family = sock.family
        self.errors = _error_queue(sock)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.errors is not None:
            self.errors.close()
            self.errors = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        remote = self.peers.get(addr)
        if remote is None:
            host, port = addr[0], addr[1]
            assert isinstance(host, str) and isinstance(port, int)
            if len(self.peers) >= _PEER_CACHE_SIZE:
                self.peers.clear()  # spoofed sources cannot grow it without bound
            remote = self.peers[addr] = Address("udp", host, port)
        self.layer._deliver(data, remote, self.local)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error (port or host unreachable) for a datagram we sent.  On an unconnected
        # socket the loop only hands us the errno; with IP_RECVERR the kernel also queued the
        # datagram's destination, so the error reaches the transactions toward that address at
        # once (RFC 3261 §17.1.4, §18.4) instead of their timers firing 32 s later.
        destinations = _read_error_queue(self.errors) if self.errors is not None else []
        if not destinations:  # no error queue, or an error raised synchronously by sendto()
            destinations = [(self.sending_to or self.local, None)]
        for remote, error in destinations:
            self.layer._error(remote, error or exc)


# Linux: queue ICMP errors with the destination of the datagram that caused them (ip(7),
# ipv6(7)); the constants are missing from Python's socket module.
_IP_RECVERR: Final = 11
_IPV6_RECVERR: Final = 25
_SO_EE_ORIGIN_ICMP: Final = 2
_SO_EE_ORIGIN_ICMP6: Final = 3
_ERROR_QUEUE_DEPTH: Final = 64  # entries read per error_received call


def _error_queue(sock: socket.socket) -> socket.socket | None:
    """Ask the kernel to queue ICMP errors with their datagram's destination; returns a
    duplicate of the socket to read the queue with (uvloop's transport exposes a pseudo-socket
    without recvmsg), or None where the platform has no error queue."""
    if not hasattr(socket, "MSG_ERRQUEUE"):
        return None
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        return socket.socket(fileno=os.dup(sock.fileno()))
    except OSError as exc:
        log.info("UDP socket without an ICMP error queue: %s", exc)
        return None


def _read_error_queue(sock: socket.socket) -> list[tuple[Address, OSError | None]]:
    """The queued ICMP errors as (destination of the failed datagram, its error)."""
    found: list[tuple[Address, OSError | None]] = []
    for _ in range(_ERROR_QUEUE_DEPTH):
        try:
            _, ancillary, _, name = sock.recvmsg(1, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            log.debug("error queue: %s", exc)
            break
        error: OSError | None = None
        for _level, _type, data in ancillary:
            if len(data) >= 5 and data[4] in (_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6):
                errno_value = int.from_bytes(data[:4], sys.byteorder)
                error = OSError(errno_value, os.strerror(errno_value))
        if isinstance(name, tuple) and len(name) >= 2:
            found.append((Address("udp", str(name[0]), int(name[1])), error))
    return found


class _StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection, inbound or outbound."""

    def __init__(self, layer: TransportLayer, transport_name: str, key: Address | None) -> None:
        self.layer = layer
        self.name = transport_name
        self.remote = key or Address(transport_name, "", 0)
        self.local = Address(transport_name, "", 0)
        self.outbound = key is not None
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.framer = StreamFramer(layer.max_message_size)
        self.last_activity = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but not necessarily an asyncio.Transport instance: uvloop's
        # TCPTransport and SSLProtocol's transport only implement the interface.
        self.transport = cast(asyncio.Transport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = Address(self.name, host, port)
        if not self.outbound:
            peer_host, peer_port = transport.get_extra_info("peername")[:2]
            self.remote = Address(self.name, peer_host, peer_port)
        self.last_activity = self.loop.time()
        self.idle_timer = self.loop.call_later(self.layer.idle_timeout, self._check_idle)
        self.layer._register(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.last_activity = self.loop.time()
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            # Framing is lost for good on a stream: RFC 3261 §18.3 leaves closing as the only way.
            self.layer._error(self.remote, exc)
            self.transport.abort()
            return
        pings = self.framer.take_pings()
        if pings:
            self.transport.write(b"\r\n" * pings)  # RFC 5626 §4.4.1: a CRLF pong per ping
        for message in messages:
            self.layer._deliver(message, self.remote, self.local)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.layer._unregister(self)
        if exc is not None:
            self.layer._error(self.remote, exc)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            raise TransportError(f"connection to {self.remote} is closing")
        self.transport.write(data)
        self.last_activity = self.loop.time()
        if self.transport.get_write_buffer_size() > self.layer.max_write_buffer:
            # The peer does not read: drop it rather than buffer without bound.
            self.transport.abort()
            raise TransportError(f"{self.remote} is not reading; connection closed")

    def _check_idle(self) -> None:
        """Close after ``idle_timeout`` without traffic, except a connection we opened on a
        transport we do not listen on: the peer can reach us only through it (RFC 5923)."""
        assert self.transport is not None
        idle = self.loop.time() - self.last_activity
        if self.outbound and self.layer.local_address(self.name) is None:
            self.idle_timer = self.loop.call_later(self.layer.idle_timeout, self._check_idle)
        elif idle >= self.layer.idle_timeout:
            self.transport.close()
        else:
            self.idle_timer = self.loop.call_later(self.layer.idle_timeout - idle, self._check_idle)


class TransportLayer:
    """All listening sockets and connections of one SIP stack."""

    def __init__(
        self,
        on_message: Callable[[bytes, Address, Address], None],
        on_error: Callable[[Address, Exception], None] | None = None,
        *,
        tls_client_context: ssl.SSLContext | None = None,
        max_message_size: int = 65535,
        idle_timeout: float = 300.0,
    ) -> None:
        self._on_message = on_message
        self._on_error = on_error
        self._tls_client_context = tls_client_context
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout
        self.max_write_buffer = max(1 << 20, 16 * max_message_size)
        self._udp: list[_UdpEndpoint] = []
        self._servers: list[asyncio.Server] = []
        self._listening: dict[str, list[Address]] = {}
        self._connections: dict[Address, _StreamConnection] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting: dict[Address, asyncio.Task[None]] = {}
        self._closed = False

    async def listen(
        self, transport: str, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> Address:
        """Bind a listening socket; port 0 picks a free one.  Errors raise here (start-up)."""
        transport = transport.lower()
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp_transport, endpoint = await loop.create_datagram_endpoint(
                lambda: _UdpEndpoint(self), local_addr=(host, port)
            )
            sock = udp_transport.get_extra_info("socket")
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):  # best effort: a smaller buffer still works
                    sock.setsockopt(socket.SOL_SOCKET, option, _UDP_BUFFER)
            self._udp.append(endpoint)
            local = endpoint.local
        elif transport in _STREAM:
            if (transport == "tls") != (ssl_context is not None):
                raise ValueError("an ssl_context is required for tls and only for tls")
            name = transport
            server = await loop.create_server(
                lambda: _StreamConnection(self, name, None),
                host,
                port,
                ssl=ssl_context,
                reuse_address=True,
                ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT if ssl_context else None,
            )
            self._servers.append(server)
            bound_host, bound_port = server.sockets[0].getsockname()[:2]
            local = Address(transport, bound_host, bound_port)
        else:
            raise ValueError(f"unsupported transport {transport!r}")
        self._listening.setdefault(transport, []).append(local)
        return local

    def local_address(self, transport: str) -> Address | None:
        """The first listening address of that transport, for Via sent-by and Contact."""
        addresses = self._listening.get(transport.lower())
        return addresses[0] if addresses else None

    def send(self, data: bytes, remote: Address) -> None:
        """Queue ``data`` for ``remote``; never blocks and never raises (errors go to on_error)."""
        try:
            if self._closed:
                raise TransportError("transport layer is closed")
            if len(data) > self.max_message_size:
                raise TransportError(f"message of {len(data)} bytes exceeds the size limit")
            if remote.transport == "udp":
                self._send_udp(data, remote)
            elif remote.transport in _STREAM:
                self._send_stream(data, remote)
            else:
                raise TransportError(f"unsupported transport {remote.transport!r}")
        except Exception as exc:
            self._error(remote, exc)

    def connection_local(self, remote: Address) -> Address | None:
        """Our end of the open connection to ``remote``, if there is one."""
        connection = self._connections.get(remote)
        return connection.local if connection is not None else None

    async def connect(self, remote: Address) -> Address:
        """Our end of a connection to ``remote`` (TCP/TLS), opened unless one is open: what
        Via and Contact carry when we do not listen on that transport. TransportError when
        the connection cannot be made."""
        local = self.connection_local(remote)
        if local is None:
            self._queue(remote)
            await asyncio.shield(self._connecting[remote])
            local = self.connection_local(remote)
        if local is None:
            raise TransportError(f"cannot connect to {remote}")
        return local

    def connection_count(self) -> int:
        """Open TCP/TLS connections (inbound and outbound)."""
        return len(self._connections)

    async def close(self) -> None:
        """Close every socket; pending connects are abandoned."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            server.close()
        for connection in list(self._connections.values()):
            if connection.transport is not None:
                connection.transport.abort()
        for endpoint in self._udp:
            if endpoint.transport is not None:
                endpoint.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._servers.clear()
        self._udp.clear()
        self._listening.clear()
        self._pending.clear()
        # Let the transports run their connection_lost callbacks before the loop goes away.
        await asyncio.sleep(0)

    # -- internals -----------------------------------------------------------------------

    def _send_udp(self, data: bytes, remote: Address) -> None:
        family = _ip_family(remote.host)
        if family is None:
            raise TransportError(f"{remote.host!r} is not an IP address; resolve it first")
        if len(data) > _MAX_UDP_PAYLOAD:
            raise TransportError(f"{len(data)} bytes do not fit in a UDP datagram")
        for endpoint in self._udp:
            if endpoint.family == family and endpoint.transport is not None:
                endpoint.sending_to = remote
                try:
                    endpoint.transport.sendto(data, (remote.host, remote.port))
                finally:
                    endpoint.sending_to = None
                return
        raise TransportError(f"no UDP socket listening for the address family of {remote}")

    def _send_stream(self, data: bytes, remote: Address) -> None:
        connection = self._connections.get(remote)
        if connection is not None:
            connection.write(data)
            return
        self._queue(remote).append(data)

    def _queue(self, remote: Address) -> list[bytes]:
        """What waits for the connection to ``remote``; the first call starts connecting."""
        queued = self._pending.get(remote)
        if queued is not None:
            return queued
        if remote.transport == "tls" and self._tls_client_context is None:
            self._tls_client_context = client_context()
        queued = self._pending[remote] = []
        task = asyncio.get_running_loop().create_task(self._connect(remote))
        self._tasks.add(task)
        self._connecting[remote] = task
        task.add_done_callback(lambda done: self._connected(remote, done))
        return queued

    def _connected(self, remote: Address, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._connecting.get(remote) is task:
            del self._connecting[remote]

    async def _connect(self, remote: Address) -> None:
        loop = asyncio.get_running_loop()
        tls = remote.transport == "tls"
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _StreamConnection(self, remote.transport, remote),
                    remote.host,
                    remote.port,
                    ssl=self._tls_client_context if tls else None,
                    server_hostname=(remote.server_name or remote.host) if tls else None,
                    ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT if tls else None,
                ),
                _CONNECT_TIMEOUT,
            )
        except asyncio.CancelledError:
            self._pending.pop(remote, None)
            raise
        except Exception as exc:
            dropped = self._pending.pop(remote, [])
            self._error(remote, TransportError(f"cannot connect to {remote} "
                                               f"({len(dropped)} message(s) dropped): {exc}"))

    def _register(self, connection: _StreamConnection) -> None:
        if self._closed:
            assert connection.transport is not None
            connection.transport.abort()
            return
        self._connections[connection.remote] = connection
        # Flushed here, inside connection_made, so nothing sent later can overtake it.
        for data in self._pending.pop(connection.remote, []):
            try:
                connection.write(data)
            except Exception as exc:
                self._error(connection.remote, exc)
                return

    def _unregister(self, connection: _StreamConnection) -> None:
        if self._connections.get(connection.remote) is connection:
            del self._connections[connection.remote]

    def _deliver(self, data: bytes, remote: Address, local: Address) -> None:
        try:
            self._on_message(data, remote, local)
        except Exception as exc:
            self._error(remote, exc)

    def _error(self, remote: Address, exc: Exception) -> None:
        if self._on_error is None:
            log.warning("SIP transport %s: %s", remote, exc)
            return
        try:
            self._on_error(remote, exc)
        except Exception:
            log.exception("on_error callback failed for %s", remote)
