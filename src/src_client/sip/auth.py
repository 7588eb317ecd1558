"""HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 7616, RFC 8760).

Client side: answer a 401/407 challenge with MD5, MD5-sess, SHA-256 or SHA-256-sess,
qop=auth (preferred) or auth-int, counting nonce uses so a nonce can be reused by later
requests. Server side: check an Authorization value, for the bundled test SRS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SipError, SipParseError
from .syntax import quote, read_quoted, split_outside

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


def _auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``scheme name=value, name="quoted", ...`` (RFC 7235 §2.1 auth-param).

    Names are lower-cased; quoted values are unescaped.
    """
    words = value.split(None, 1)
    if not words:
        raise SipParseError("Bad Authentication Header")
    scheme = words[0]
    rest = words[1] if len(words) == 2 else ""
    params: dict[str, str] = {}
    for piece in split_outside(rest, ","):
        if not piece:
            continue
        name, eq, raw = piece.partition("=")
        name = name.strip().lower()
        raw = raw.strip()
        if not eq or not name:
            raise SipParseError("Bad Authentication Parameter")
        if raw.startswith('"'):
            unquoted, end = read_quoted(raw, 0)
            if end != len(raw):
                raise SipParseError("Bad Authentication Parameter")
            raw = unquoted
        params[name] = raw
    return scheme, params


@dataclass(frozen=True, slots=True)
class Challenge:
    """A WWW-Authenticate or Proxy-Authenticate challenge. ``stale`` means the credentials
    were right but the nonce expired: retry once more with the new nonce (RFC 7616 §3.3)."""

    scheme: str
    realm: str
    nonce: str
    algorithm: str
    qop: tuple[str, ...]
    opaque: str | None
    stale: bool


def parse_challenge(value: str) -> Challenge:
    scheme, params = _auth_params(value)
    if scheme.lower() != "digest":
        raise SipParseError("Unsupported Authentication Scheme")
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        raise SipParseError("Incomplete Digest Challenge")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        scheme="Digest",
        realm=realm,
        nonce=nonce,
        algorithm=params.get("algorithm", "MD5"),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


class DigestCredentials:
    """A username and password; the password never appears in repr or str."""

    __slots__ = ("_password", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    @property
    def password(self) -> str:
        return self._password

    def __repr__(self) -> str:
        return f"DigestCredentials(username={self.username!r}, password=<hidden>)"

    __str__ = __repr__


def _hash_for(algorithm: str) -> tuple[Callable[[bytes], str], bool]:
    """Return (hash function, is -sess variant); SipError for anything we cannot do."""
    upper = algorithm.upper()
    session = upper.endswith("-SESS")
    digest = _HASHES.get(upper.removesuffix("-SESS"))
    if digest is None:
        raise SipError(f"unsupported digest algorithm {algorithm!r}")
    return digest, session


def _response(
    algorithm: str, username: str, realm: str, password: str, method: str, uri: str,
    nonce: str, nc: str, cnonce: str, qop: str | None, body: bytes,
) -> str:  # fmt: skip
    """RFC 7616 §3.4.1-3.4.3 (RFC 2617 §3.2.2 when no qop was offered)."""
    h, session = _hash_for(algorithm)
    ha1 = h(f"{username}:{realm}:{password}".encode())
    if session:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + h(body)
    ha2 = h(a2.encode())
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


class DigestSession:
    """Answers challenges for one UA, counting uses of each (realm, nonce) pair (RFC 7616
    §3.4: nc counts the requests sent with the same nonce). The most recently used
    ``max_nonces`` pairs are remembered, which bounds memory."""

    __slots__ = ("_cnonce", "_counts", "_max_nonces")

    def __init__(self, cnonce: Callable[[], str] | None = None, *, max_nonces: int = 64) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._cnonce = cnonce or (lambda: secrets.token_hex(16))
        self._max_nonces = max_nonces

    def authorization(
        self,
        challenge: Challenge,
        creds: DigestCredentials,
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> str:
        if challenge.qop:
            if "auth" in challenge.qop:
                qop: str | None = "auth"
            elif "auth-int" in challenge.qop:
                qop = "auth-int"
            else:
                raise SipError("no supported qop offered")
        else:
            qop = None
        key = (challenge.realm, challenge.nonce)
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count  # re-inserted: the dict is kept in order of last use
        if len(self._counts) > self._max_nonces:
            del self._counts[next(iter(self._counts))]
        nc = f"{count:08x}"
        cnonce = self._cnonce()
        response = _response(
            challenge.algorithm, creds.username, challenge.realm, creds.password, method, uri,
            challenge.nonce, nc, cnonce, qop, body,
        )  # fmt: skip
        parts = [
            f"username={quote(creds.username)}",
            f"realm={quote(challenge.realm)}",
            f"nonce={quote(challenge.nonce)}",
            f"uri={quote(uri)}",
            f"response={quote(response)}",
            f"algorithm={challenge.algorithm}",
        ]
        if qop is not None:
            parts += [f"cnonce={quote(cnonce)}", f"qop={qop}", f"nc={nc}"]
        elif challenge.algorithm.upper().endswith("-SESS"):
            parts.append(f"cnonce={quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        return "Digest " + ", ".join(parts)


def authorization_params(value: str) -> dict[str, str] | None:
    """The parameters of a Digest Authorization value (names lower-cased), None when the
    value is not one: what a server reads before verify_authorization (user, nonce)."""
    try:
        scheme, params = _auth_params(value)
    except SipParseError:
        return None
    return params if scheme.lower() == "digest" else None


def verify_authorization(
    value: str, password: str, method: str, realm: str, *, body: bytes = b""
) -> bool:
    """Check an Authorization/Proxy-Authorization value against the password.

    Whether the nonce is one the server issued and still fresh is the caller's business;
    malformed values and unsupported algorithms simply fail.
    """
    try:
        scheme, params = _auth_params(value)
        if scheme.lower() != "digest" or params.get("realm") != realm:
            return False
        qop = params.get("qop")
        if qop not in (None, "auth", "auth-int"):
            return False
        expected = _response(
            params.get("algorithm", "MD5"), params["username"], realm, password, method,
            params["uri"], params["nonce"], params.get("nc", ""), params.get("cnonce", ""),
            qop, body,
        )  # fmt: skip
    except (SipError, KeyError):
        return False
    return hmac.compare_digest(expected, params.get("response", "").lower())
