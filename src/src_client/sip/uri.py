"""SIP/SIPS/tel URIs, name-addr values and Via values (RFC 3261 §19.1, §20.10, §20.42, §25;
RFC 3966 for tel; RFC 5118 for IPv6 hosts).

Values are immutable and keep what was received (parameter order, user-part escapes,
host case) so serialising a parsed value gives back the same text, with parameter names
lower-cased.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import SipParseError
from .syntax import (
    MAX_PARAMS,
    SIMPLE_PARAMS,
    TOKEN_CHAR,
    Params,
    find_param,
    format_params,
    has_param,
    is_token,
    parse_params,
    quote,
    read_quoted,
    simple_params,
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# Host names are checked loosely (underscores and a trailing dot occur in the field); the
# point is to refuse characters that could smuggle syntax, not to police DNS.
_HOSTNAME = re.compile(r"[A-Za-z0-9_\-.]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
# Characters a URI never contains unescaped (RFC 3986 §2 plus controls and space).
_URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>\"{}|\\^`]")
# The shape nearly every URI on the wire has (lower-case scheme, no password, no IPv6, no
# URI headers), matched in one pass; anything else takes the general path. Each character
# class excludes the delimiter that follows it, so the match cannot backtrack badly.
_COMMON_SIP = re.compile(
    r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,/%]+)@)?([A-Za-z0-9\-_.]+)(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()&=+$,/%:\[\]]*)*)"
)
# Likewise for name-addr and Via values: the forms real stacks send, in one regex each, with
# possessive quantifiers for the reason given at SIMPLE_PARAMS.
_COMMON_NAME_ADDR = re.compile(
    rf'(?:"([^"\\]*+)" ?|({TOKEN_CHAR}++(?: {TOKEN_CHAR}++)*+) ?)?<([^<>"\s]++)>({SIMPLE_PARAMS})'
)
# parse_uri memoises its results (SipUri is immutable): a UA sees the same few URIs (its
# peers' Contacts, its own targets) over and over, and dialogs then share one object each.
# Long texts are not memoised, so a hostile peer cannot fill the memo with large strings.
_URI_MEMO_SIZE = 2048
_URI_MEMO_MAX_TEXT = 256
_NAME_ADDR_MEMO_SIZE = 512
_COMMON_VIA = re.compile(
    rf"SIP/2\.0/([A-Za-z]++) ([A-Za-z0-9\-_.]++|\[[0-9A-Fa-f:.]++\])(?::([0-9]{{1,5}}+))?+"
    rf"({SIMPLE_PARAMS})"
)


def _check_param_count(text: str, limit: int) -> None:
    """Refuse a hostile number of parameters before any per-parameter work is done."""
    if text.count(";") > limit:
        raise SipParseError("Too Many Parameters")


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _parse_host(text: str) -> str:
    if text.startswith("["):
        address = text[1:-1]
        if not text.endswith("]") or _IPV6.fullmatch(address) is None:
            raise SipParseError("Bad IPv6 Reference")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise SipParseError("Bad IPv6 Reference") from None
        return address
    if _HOSTNAME.fullmatch(text) is None:
        raise SipParseError("Bad Host")
    return text


def _parse_port(text: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 5 or int(text) > 65535:
        raise SipParseError("Bad Port")
    return int(text)


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise SipParseError("Bad IPv6 Reference")
        host = _parse_host(text[: close + 1])
        rest = text[close + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise SipParseError("Bad Host")
        return host, _parse_port(rest[1:])
    host, colon, port = text.partition(":")
    return _parse_host(host), _parse_port(port) if colon else None


def _expand_srs(params: Params) -> Iterator[tuple[str, str | None]]:
    """Yield parameters with ``&``-joined pairs split out.

    Twilio's <Siprec> documents SRS URIs such as ``sip:srs.example.com;secure=true&edge=x``;
    RFC 3261 reads that as one parameter ``secure`` with value ``true&edge=x`` (``&`` is a
    param-unreserved character), so the canonical form is kept and the pairs are only split
    when a parameter is looked up.
    """
    for name, value in params:
        if value is None or "&" not in value:
            yield name, value
            continue
        first, *extra = value.split("&")
        yield name, first
        for pair in extra:
            key, eq, val = pair.partition("=")
            if key:
                yield key.lower(), val if eq else None


@dataclass(frozen=True, slots=True)
class SipUri:
    """A parsed URI. For ``tel`` the number is in ``host``; for schemes other than
    sip/sips/tel the opaque remainder is in ``host`` so a UAS can still answer 416
    (RFC 3261 §8.2.2.1) instead of 400."""

    scheme: str
    host: str
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    # the serialised form, computed on first use (values are immutable and often shared)
    _text: str | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def param(self, name: str) -> str | None:
        if not self.params:
            return None
        name = name.lower()
        for key, value in _expand_srs(self.params):
            if key == name:
                return value
        return None

    def has_param(self, name: str) -> bool:
        if not self.params:
            return False
        name = name.lower()
        return any(key == name for key, _ in _expand_srs(self.params))

    def replace(self, **changes: Any) -> SipUri:
        return dataclasses.replace(self, **changes)

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value is not None else None

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._format()
            object.__setattr__(self, "_text", text)
        return text

    def _format(self) -> str:
        if self.scheme not in ("sip", "sips"):
            return f"{self.scheme}:{self.host}{format_params(self.params)}"
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += (":", self.password)
            parts.append("@")
        parts.append(_format_host(self.host))
        if self.port is not None:
            parts += (":", str(self.port))
        parts.append(format_params(self.params))
        if self.headers:
            parts += ("?", "&".join(f"{name}={value}" for name, value in self.headers))
        return "".join(parts)


def _parse_uri_params(text: str) -> Params:
    pieces = text.split(";")
    if len(pieces) > MAX_PARAMS:
        raise SipParseError("Too Many Parameters")
    result: list[tuple[str, str | None]] = []
    for piece in pieces:
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        if not name:
            raise SipParseError("Bad URI Parameter")
        result.append((name.lower(), value if eq else None))
    return tuple(result)


def parse_uri(text: str) -> SipUri:
    """Parse a URI (RFC 3261 §19.1.1 for sip/sips). Escapes are kept as received: they are
    compared, not interpreted, by a UA."""
    if len(text) <= _URI_MEMO_MAX_TEXT:
        return _parse_uri_memo(text)
    return _parse_uri(text)


def _parse_uri(text: str) -> SipUri:
    text = text.strip()
    _check_param_count(text, MAX_PARAMS)
    match = _COMMON_SIP.fullmatch(text)
    if match is not None:
        scheme, user, host, port, params = match.groups()
        return SipUri(
            scheme,
            host,
            user,
            None,
            _parse_port(port) if port is not None else None,
            _parse_uri_params(params[1:]) if params else (),
        )
    return _parse_uri_general(text)


_parse_uri_memo = lru_cache(maxsize=_URI_MEMO_SIZE)(_parse_uri)


def _parse_uri_general(text: str) -> SipUri:
    colon = text.find(":")
    if colon <= 0 or _SCHEME.fullmatch(text, 0, colon) is None:
        raise SipParseError("Bad URI Scheme")
    if _URI_FORBIDDEN.search(text) is not None:
        raise SipParseError("Bad URI")
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if not rest:
        raise SipParseError("Bad URI")
    if scheme == "tel":
        number, _, params = rest.partition(";")
        if not number:
            raise SipParseError("Bad URI")
        return SipUri(scheme, number, params=_parse_uri_params(params))
    if scheme not in ("sip", "sips"):
        return SipUri(scheme, rest)

    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        user, sep, pw = userinfo.partition(":")
        if not user:
            raise SipParseError("Bad URI User")
        if sep:
            password = pw

    headers: tuple[tuple[str, str], ...] = ()
    rest, qmark, header_text = rest.partition("?")
    if qmark:
        pairs = []
        if header_text.count("&") >= MAX_PARAMS:
            raise SipParseError("Too Many URI Headers")
        for pair in header_text.split("&"):
            name, _, value = pair.partition("=")
            if not name:
                raise SipParseError("Bad URI Header")
            pairs.append((name, value))
        headers = tuple(pairs)

    hostport, _, param_text = rest.partition(";")
    host, port = _split_hostport(hostport)
    return SipUri(scheme, host, user, password, port, _parse_uri_params(param_text), headers)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact/Route value: URI, optional display name (unquoted, escapes
    resolved) and header parameters such as ``tag``."""

    uri: SipUri
    display_name: str | None = None
    params: Params = ()
    _text: str | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def tag(self) -> str | None:
        return find_param(self.params, "tag")

    def with_tag(self, tag: str) -> NameAddr:
        kept = tuple(p for p in self.params if p[0] != "tag")
        return NameAddr(self.uri, self.display_name, (*kept, ("tag", tag)))

    def param(self, name: str) -> str | None:
        return find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    def __str__(self) -> str:
        # Always the <uri> form: an addr-spec with a URI that has parameters would change
        # meaning (RFC 3261 §20.10), and quoting the display name is always legal.
        text = self._text
        if text is None:
            name = quote(self.display_name) + " " if self.display_name is not None else ""
            text = f"{name}<{self.uri}>{format_params(self.params)}"
            object.__setattr__(self, "_text", text)
        return text


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``name-addr`` or ``addr-spec`` followed by header parameters (RFC 3261 §20.10:
    in the addr-spec form every ``;`` after the URI starts a header parameter).

    Memoised like parse_uri: the From and To of a dialog come back verbatim in every request
    and response of it (RFC 3261 §8.2.6.2, §12.2.1.1), so most values were parsed before.
    The memo is smaller because only the dialogs in progress recur."""
    if len(text) <= _URI_MEMO_MAX_TEXT:
        return _parse_name_addr_memo(text)
    return _parse_name_addr(text)


def _parse_name_addr(text: str) -> NameAddr:
    text = text.strip()
    _check_param_count(text, 2 * MAX_PARAMS)  # URI parameters, then header parameters
    match = _COMMON_NAME_ADDR.fullmatch(text)
    if match is not None:
        quoted, tokens, uri_text, params = match.groups()
        return NameAddr(parse_uri(uri_text), tokens or quoted, simple_params(params))
    return _parse_name_addr_general(text)


_parse_name_addr_memo = lru_cache(maxsize=_NAME_ADDR_MEMO_SIZE)(_parse_name_addr)


def _parse_name_addr_general(text: str) -> NameAddr:
    if not text:
        raise SipParseError("Empty Address")
    display: str | None = None
    if text[0] == '"':
        display, end = read_quoted(text, 0)
        lt = text.find("<", end)
        if lt < 0 or text[end:lt].strip():
            raise SipParseError("Bad Address")
    else:
        lt = text.find("<")
        if lt > 0:
            words = text[:lt].split()
            if not all(is_token(word) for word in words):
                raise SipParseError("Bad Display Name")
            display = " ".join(words) or None
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("Unterminated Angle Bracket")
        uri = parse_uri(text[lt + 1 : gt])
        rest = text[gt + 1 :]
    else:
        uri_text, semi, rest = text.partition(";")
        uri = parse_uri(uri_text)
        rest = semi + rest
    return NameAddr(uri, display, parse_params(rest))


@dataclass(frozen=True, slots=True)
class Via:
    """One Via entry (RFC 3261 §20.42). Only SIP/2.0 is accepted."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        return find_param(self.params, "branch")

    def param(self, name: str) -> str | None:
        return find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    def replace(self, **changes: Any) -> Via:
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        host = _format_host(self.host)
        return f"SIP/2.0/{self.transport} {host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    """Parse one via-parm. LWS is allowed around ``/`` and ``:`` (RFC 3261 §25.1 SLASH,
    COLON), which real stacks rarely send but RFC 4475 §3.1.1.1 does."""
    _check_param_count(text, MAX_PARAMS)
    match = _COMMON_VIA.fullmatch(text.strip())
    if match is not None:
        transport, host, port, params = match.groups()
        return Via(
            transport.upper(),
            _parse_host(host) if host[0] == "[" else host,
            _parse_port(port) if port is not None else None,
            simple_params(params),
        )
    return _parse_via_general(text)


def _parse_via_general(text: str) -> Via:
    parts = text.split("/", 2)
    if len(parts) != 3:
        raise SipParseError("Bad Via")
    if parts[0].strip().upper() != "SIP" or parts[1].strip() != "2.0":
        raise SipParseError("Bad Via Version")
    rest = parts[2].lstrip()
    words = rest.split(None, 1)
    if len(words) != 2 or not is_token(words[0]):
        raise SipParseError("Bad Via")
    transport = words[0].upper()
    sent_by, semi, params = words[1].partition(";")
    host, port = _split_hostport("".join(sent_by.split()))
    return Via(transport, host, port, parse_params(semi + params))
