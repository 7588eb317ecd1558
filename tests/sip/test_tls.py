"""TLS against peers not built on our stack: blocking Python ``ssl`` sockets and openssl s_client.

Certificates are generated per test run with ``cryptography``; no key is committed.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from src_client.sip.endpoint import (
    InviteResult,
    ServerTransaction,
    SipConfig,
    SipEndpoint,
    SipTransportError,
)
from src_client.sip.transport import (
    Address,
    TransportLayer,
    client_context,
    server_context,
)
from src_client.sip.uri import SipUri, parse_name_addr, parse_uri

HOST = "127.0.0.1"
SERVER_NAME = "sip.test"


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that signed nothing we use: verification against it must fail


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("src-client test CA")
    _, other_cert = _ca("unrelated CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(base / "ca.pem", base / "cert.pem", base / "key.pem", base / "other-ca.pem")
    paths.ca.write_bytes(_pem(ca_cert))
    paths.other_ca.write_bytes(_pem(other_cert))
    paths.cert.write_bytes(_pem(cert))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def sip_message(tag: str) -> bytes:
    return (
        f"OPTIONS sips:peer@{SERVER_NAME} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {HOST}:5061;branch=z9hG4bK{tag}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sips:a@{SERVER_NAME}>;tag={tag}\r\n"
        f"To: <sips:b@{SERVER_NAME}>\r\n"
        f"Call-ID: {tag}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Collector:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.errors: asyncio.Queue[tuple[Address, Exception]] = asyncio.Queue()

    def on_message(self, data: bytes, remote: Address, local: Address) -> None:
        self.messages.put_nowait((data, remote))

    def on_error(self, remote: Address, exc: Exception) -> None:
        self.errors.put_nowait((remote, exc))


class PlainTlsServer:
    """A blocking Python ssl server in a thread: accepts one connection, records the TLS
    version, reads one SIP message (by its blank line; our test messages have no body) and
    echoes it back."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.sock.settimeout(5)
        self.port = int(self.sock.getsockname()[1])
        self.ctx = ctx
        self.version: str | None = None
        self.received = b""
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            raw, _ = self.sock.accept()
            raw.settimeout(5)
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                self.version = conn.version()
                while b"\r\n\r\n" not in self.received:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    self.received += chunk
                conn.sendall(self.received)
        except Exception as exc:
            self.error = exc
        finally:
            self.sock.close()

    async def join(self) -> None:
        await asyncio.to_thread(self.thread.join, 10)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    yield Collector()


async def test_our_client_to_python_ssl_server_negotiates_tls13(
    pki: Pki, collector: Collector
) -> None:
    server = PlainTlsServer(server_context(str(pki.cert), str(pki.key)))
    layer = TransportLayer(
        collector.on_message,
        collector.on_error,
        tls_client_context=client_context(cafile=str(pki.ca)),
    )
    try:
        target = Address("tls", HOST, server.port, server_name=SERVER_NAME)
        layer.send(sip_message("c1"), target)
        data, remote = await asyncio.wait_for(collector.messages.get(), 10)
        await server.join()
        assert server.error is None
        assert server.version == "TLSv1.3"
        assert server.received == sip_message("c1")
        assert data == sip_message("c1") and remote == target
    finally:
        await layer.close()


async def test_our_client_speaks_tls12_to_a_tls12_only_peer(
    pki: Pki, collector: Collector
) -> None:
    ctx = server_context(str(pki.cert), str(pki.key))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    server = PlainTlsServer(ctx)
    layer = TransportLayer(
        collector.on_message,
        collector.on_error,
        tls_client_context=client_context(cafile=str(pki.ca)),
    )
    try:
        layer.send(sip_message("c12"), Address("tls", HOST, server.port))  # verified by IP SAN
        await asyncio.wait_for(collector.messages.get(), 10)
        await server.join()
        assert server.version == "TLSv1.2"
    finally:
        await layer.close()


@pytest.mark.parametrize(
    ("trusted", "server_name", "why"),
    [("other_ca", SERVER_NAME, "untrusted issuer"), ("ca", "wrong.test", "name mismatch")],
)
async def test_our_client_rejects_unverifiable_servers(
    pki: Pki, collector: Collector, trusted: str, server_name: str, why: str
) -> None:
    server = PlainTlsServer(server_context(str(pki.cert), str(pki.key)))
    ca_file = getattr(pki, trusted)
    layer = TransportLayer(
        collector.on_message,
        collector.on_error,
        tls_client_context=client_context(cafile=str(ca_file)),
    )
    try:
        target = Address("tls", HOST, server.port, server_name=server_name)
        layer.send(sip_message("bad"), target)
        remote, exc = await asyncio.wait_for(collector.errors.get(), 10)
        assert remote == target, why
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc), why
        await server.join()
        assert server.received == b""
        assert collector.messages.empty()
        assert layer.connection_count() == 0
    finally:
        await layer.close()


async def test_verification_is_on_by_default(pki: Pki, collector: Collector) -> None:
    server = PlainTlsServer(server_context(str(pki.cert), str(pki.key)))
    layer = TransportLayer(collector.on_message, collector.on_error)  # system trust store only
    try:
        layer.send(sip_message("d"), Address("tls", HOST, server.port))
        _, exc = await asyncio.wait_for(collector.errors.get(), 10)
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc)
        await server.join()
    finally:
        await layer.close()


def _python_ssl_client(port: int, ca: Path, payload: bytes) -> tuple[str | None, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((HOST, port), timeout=5) as raw, ctx.wrap_socket(
        raw, server_hostname=SERVER_NAME
    ) as conn:
        conn.sendall(payload)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        return conn.version(), reply


async def test_python_ssl_client_to_our_server(pki: Pki, collector: Collector) -> None:
    layer = TransportLayer(collector.on_message, collector.on_error)
    try:
        local = await layer.listen("tls", HOST, 0, server_context(str(pki.cert), str(pki.key)))
        client = asyncio.create_task(
            asyncio.to_thread(_python_ssl_client, local.port, pki.ca, sip_message("s1"))
        )
        data, remote = await asyncio.wait_for(collector.messages.get(), 10)
        assert data == sip_message("s1") and remote.transport == "tls"
        layer.send(sip_message("s1-reply"), remote)  # back over the inbound TLS connection
        version, reply = await asyncio.wait_for(client, 10)
        assert version == "TLSv1.3"
        assert reply == sip_message("s1-reply")
    finally:
        await layer.close()


async def test_failed_handshake_affects_only_that_client(pki: Pki, collector: Collector) -> None:
    layer = TransportLayer(collector.on_message, collector.on_error)
    try:
        local = await layer.listen("tls", HOST, 0, server_context(str(pki.cert), str(pki.key)))
        # A client speaking plain text to the TLS port, then a proper one.
        reader, writer = await asyncio.open_connection(HOST, local.port)
        writer.write(sip_message("plain"))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        client = asyncio.create_task(
            asyncio.to_thread(_python_ssl_client, local.port, pki.ca, sip_message("s2"))
        )
        data, remote = await asyncio.wait_for(collector.messages.get(), 10)
        assert data == sip_message("s2")
        layer.send(sip_message("s2"), remote)
        assert (await asyncio.wait_for(client, 10))[0] == "TLSv1.3"
    finally:
        await layer.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
async def test_openssl_s_client_to_our_server(pki: Pki, collector: Collector) -> None:
    layer = TransportLayer(collector.on_message, collector.on_error)
    try:
        local = await layer.listen("tls", HOST, 0, server_context(str(pki.cert), str(pki.key)))
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-connect", f"{HOST}:{local.port}",
            "-servername", SERVER_NAME, "-verify_hostname", SERVER_NAME,
            "-CAfile", str(pki.ca), "-verify_return_error", "-brief",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sip_message("ossl"))
        await proc.stdin.drain()
        data, remote = await asyncio.wait_for(collector.messages.get(), 10)
        assert data == sip_message("ossl")
        layer.send(sip_message("ossl-reply"), remote)
        output = b""
        while b"ossl-reply" not in output:
            chunk = await asyncio.wait_for(proc.stdout.read(4096), 10)
            if not chunk:
                break
            output += chunk
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 10)
        text = output.decode(errors="replace")
        assert "Protocol version: TLSv1.3" in text
        assert "Verification: OK" in text
        assert "Call-ID: ossl-reply" in text
    finally:
        await layer.close()


async def test_mutual_tls_presents_our_client_certificate(pki: Pki, collector: Collector) -> None:
    ctx = server_context(str(pki.cert), str(pki.key), cafile=str(pki.ca), require_client_cert=True)
    server = PlainTlsServer(ctx)
    layer = TransportLayer(
        collector.on_message,
        collector.on_error,
        tls_client_context=client_context(
            cafile=str(pki.ca), certfile=str(pki.cert), keyfile=str(pki.key)
        ),
    )
    try:
        layer.send(sip_message("mtls"), Address("tls", HOST, server.port, server_name=SERVER_NAME))
        data, _ = await asyncio.wait_for(collector.messages.get(), 10)
        await server.join()
        assert server.error is None and data == sip_message("mtls")
    finally:
        await layer.close()


async def test_server_requiring_client_certs_refuses_anonymous_clients(
    pki: Pki, collector: Collector
) -> None:
    ctx = server_context(str(pki.cert), str(pki.key), cafile=str(pki.ca), require_client_cert=True)
    server = PlainTlsServer(ctx)
    layer = TransportLayer(
        collector.on_message,
        collector.on_error,
        tls_client_context=client_context(cafile=str(pki.ca)),
    )
    try:
        layer.send(sip_message("anon"), Address("tls", HOST, server.port, server_name=SERVER_NAME))
        await server.join()
        assert isinstance(server.error, ssl.SSLError)
        assert server.received == b""
    finally:
        await layer.close()


def test_client_certificate_requirement_needs_a_ca(pki: Pki) -> None:
    with pytest.raises(ValueError):
        server_context(str(pki.cert), str(pki.key), require_client_cert=True)


async def tls_endpoint(pki: Pki, trusted_ca: Path) -> SipEndpoint:
    return await SipEndpoint.create(
        SipConfig(t1=0.05, t2=0.4, t4=0.5),
        listen=[("tls", HOST, 0)],
        ssl_context=server_context(str(pki.cert), str(pki.key)),
        tls_client_context=client_context(cafile=str(trusted_ca)),
    )


async def invite(uac: SipEndpoint, target: SipUri) -> InviteResult:
    return await uac.invite(
        target, from_=parse_name_addr(f"<sips:alice@{HOST}>"), to=parse_name_addr(f"<{target}>")
    )


async def test_sip_call_over_tls_between_endpoints(pki: Pki) -> None:
    """A whole call (INVITE/200/ACK/BYE) over verified TLS, addressed by a sips: URI."""
    uas = await tls_endpoint(pki, pki.ca)
    uac = await tls_endpoint(pki, pki.ca)
    answered: list[str] = []

    async def answer(stx: ServerTransaction) -> None:
        answered.append(stx.request.uri.scheme)
        await stx.accept()

    uas.on_request = answer
    try:
        local = uas.transports.local_address("tls")
        assert local is not None
        target = parse_uri(f"sips:bob@{HOST}:{local.port}")
        result = await asyncio.wait_for(invite(uac, target), 10)
        assert result.response.status == 200 and result.dialog is not None
        assert answered == ["sips"]
        assert (await asyncio.wait_for(result.dialog.bye(), 10)).status == 200
        assert uac.transports.connection_count() >= 1
    finally:
        await uac.close()
        await uas.close()


async def test_sip_call_to_an_untrusted_tls_server_fails_cleanly(pki: Pki) -> None:
    uas = await tls_endpoint(pki, pki.ca)
    uac = await tls_endpoint(pki, pki.other_ca)
    try:
        local = uas.transports.local_address("tls")
        assert local is not None
        target = parse_uri(f"sips:bob@{HOST}:{local.port}")
        with pytest.raises(SipTransportError):
            await asyncio.wait_for(invite(uac, target), 10)
    finally:
        await uac.close()
        await uas.close()
