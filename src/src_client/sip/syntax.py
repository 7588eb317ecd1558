"""Lexical helpers shared by the URI, header and auth parsers (RFC 3261 §25.1).

Every scanner here is a single left-to-right pass with no backtracking, so hostile input
costs time linear in its length.
"""

from __future__ import annotations

import re

from .errors import SipParseError

Params = tuple[tuple[str, str | None], ...]

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN = re.compile(TOKEN)
# Parameters as nearly everyone sends them: no LWS, no quoted values. Recognising this shape
# with one regex lets the common case skip the general scanner.
SIMPLE_PARAMS = rf"(?:;{TOKEN}(?:=[^;\"\s,<>]+)?)*"
_SIMPLE_PARAMS = re.compile(SIMPLE_PARAMS)


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted-string opening at ``text[start]``; return its unescaped content and
    the index just past the closing quote (RFC 3261 §25.1 quoted-pair)."""
    close = text.find('"', start + 1)
    if close >= 0 and text.find("\\", start + 1, close) < 0:
        return text[start + 1 : close], close + 1
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            if i == n:
                break
            c = text[i]
        out.append(c)
        i += 1
    raise SipParseError("Unterminated Quoted String")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is neither inside a quoted string nor inside ``<...>``.

    Pieces are stripped; empty pieces are kept so callers can decide what they mean.
    """
    if '"' not in text and "<" not in text:
        return [piece.strip() for piece in text.split(sep)]
    pieces: list[str] = []
    begin = 0
    i = 0
    n = len(text)
    in_angle = False
    while i < n:
        c = text[i]
        if c == '"' and not in_angle:
            i = read_quoted(text, i)[1]
            continue
        if c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == sep and not in_angle:
            pieces.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    if in_angle:
        raise SipParseError("Unterminated Angle Bracket")
    pieces.append(text[begin:].strip())
    return pieces


def parse_params(text: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (LWS allowed around ``;`` and ``=``).

    Names are lower-cased (parameter names compare case-insensitively); values are kept
    verbatim, quotes included, so serialising gives back what was received.
    """
    if _SIMPLE_PARAMS.fullmatch(text) is not None:
        return simple_params(text)
    return _parse_params_general(text)


def _parse_params_general(text: str) -> Params:
    text = text.strip()
    if not text:
        return ()
    if text[0] != ";":
        raise SipParseError("Bad Parameters")
    result: list[tuple[str, str | None]] = []
    for piece in split_outside(text[1:], ";"):
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        name = name.rstrip().lower()
        if not is_token(name):
            raise SipParseError("Bad Parameter Name")
        if eq:
            value = value.lstrip()
            if not value:
                raise SipParseError("Empty Parameter Value")
            result.append((name, value))
        else:
            result.append((name, None))
    return tuple(result)


def format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def find_param(params: Params, name: str) -> str | None:
    name = name.lower()
    for key, value in params:
        if key == name:
            return value
    return None


def has_param(params: Params, name: str) -> bool:
    name = name.lower()
    return any(key == name for key, _ in params)


def simple_params(text: str) -> Params:
    """Split parameters already known to match ``SIMPLE_PARAMS``."""
    if not text:
        return ()
    result: list[tuple[str, str | None]] = []
    for piece in text[1:].split(";"):
        name, eq, value = piece.partition("=")
        result.append((name.lower(), value if eq else None))
    return tuple(result)
