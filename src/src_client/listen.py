"""``transport:host:port`` listener specs, as written in the config and on the command line."""

from __future__ import annotations

from dataclasses import dataclass

TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True, slots=True)
class ListenSpec:
    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def parse_listen(text: str) -> ListenSpec:
    """Parse ``udp:127.0.0.1:5060`` or ``tls:[::1]:5061``; ValueError says what is wrong."""
    transport, sep, rest = text.partition(":")
    if not sep or transport.lower() not in TRANSPORTS:
        raise ValueError(f"{text!r}: expected transport:host:port with transport udp, tcp or tls")
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or not tail.startswith(":"):
            raise ValueError(f"{text!r}: an IPv6 host is written [addr]:port")
        port_text = tail[1:]
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r}: missing port")
    if not host:
        raise ValueError(f"{text!r}: missing host")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be 0..65535")
    return ListenSpec(transport.lower(), host, int(port_text))
