"""SDES key exchange for SRTP: the SDP ``a=crypto`` attribute (RFC 4568).

Only the suites our media engine implements are generated; any suite parses, so an
answer that picks something odd is reported precisely instead of as a syntax error.
Key material never appears in ``repr``/``str`` output: these objects end up in logs
and exception messages, while the wire form is only produced by :meth:`to_value`.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

__all__ = [
    "SUITES",
    "CryptoAttribute",
    "KeyParams",
    "SdesError",
    "SuiteInfo",
    "generate_crypto",
    "parse_crypto",
]


class SdesError(ValueError):
    """A malformed or unusable ``a=crypto`` value (the message never holds key material)."""


@dataclass(frozen=True, slots=True)
class SuiteInfo:
    name: str
    key_length: int    # master key, bytes
    salt_length: int   # master salt, bytes
    max_lifetime: int  # packets (RFC 4568 §6.2: 2^48 for the AES_CM suites)


SUITES: dict[str, SuiteInfo] = {
    # RFC 4568 §6.2.1/§6.2.2
    "AES_CM_128_HMAC_SHA1_80": SuiteInfo("AES_CM_128_HMAC_SHA1_80", 16, 14, 2**48),
    "AES_CM_128_HMAC_SHA1_32": SuiteInfo("AES_CM_128_HMAC_SHA1_32", 16, 14, 2**48),
    # RFC 7714 §12: 128-bit key, 96-bit salt; §13 registers it for SDES
    "AEAD_AES_128_GCM": SuiteInfo("AEAD_AES_128_GCM", 16, 12, 2**48),
}

_TAG_RE = re.compile(r"[0-9]{1,9}")
_SUITE_RE = re.compile(r"[A-Za-z0-9_]+")
_LIFETIME_RE = re.compile(r"(?:2\^([0-9]{1,2})|([0-9]{1,20}))")
_MKI_RE = re.compile(r"([0-9]{1,20}):([0-9]{1,3})")


@dataclass(frozen=True, slots=True)
class KeyParams:
    """One ``inline:`` key parameter: master key || master salt, optional lifetime and MKI."""

    key_salt: bytes
    lifetime: int | None = None          # packets
    mki: tuple[int, int] | None = None   # (value, length in bytes)
    lifetime_as_power: bool = field(default=True, compare=False)

    def __repr__(self) -> str:
        return (f"KeyParams(key_salt=<{len(self.key_salt)} bytes>, lifetime={self.lifetime!r}, "
                f"mki={self.mki!r})")

    __str__ = __repr__

    def to_value(self) -> str:
        text = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            power = self.lifetime.bit_length() - 1
            if self.lifetime_as_power and self.lifetime == 1 << power:
                text += f"|2^{power}"
            else:
                text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return text


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """``a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`` (RFC 4568 §9.1)."""

    tag: int
    suite: str
    keys: tuple[KeyParams, ...]
    session_params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"CryptoAttribute(tag={self.tag}, suite={self.suite!r}, keys={len(self.keys)}, "
                f"session_params={self.session_params!r})")

    __str__ = __repr__

    @property
    def suite_info(self) -> SuiteInfo | None:
        return SUITES.get(self.suite)

    @property
    def master_key(self) -> bytes:
        return self._split()[0]

    @property
    def master_salt(self) -> bytes:
        return self._split()[1]

    def _split(self) -> tuple[bytes, bytes]:
        info = self.suite_info
        if info is None:
            raise SdesError(f"crypto suite {self.suite} is not supported")
        key_salt = self.keys[0].key_salt
        return key_salt[: info.key_length], key_salt[info.key_length:]

    def to_value(self) -> str:
        """The attribute value as written on the wire (holds the key: never log it)."""
        parts = [str(self.tag), self.suite, ";".join(k.to_value() for k in self.keys)]
        parts.extend(self.session_params)
        return " ".join(parts)


def generate_crypto(tag: int, suite: str = "AES_CM_128_HMAC_SHA1_80") -> CryptoAttribute:
    """A fresh attribute with a key from the OS CSPRNG (RFC 4568 §6.1 requires fresh keys)."""
    info = SUITES.get(suite)
    if info is None:
        raise SdesError(f"cannot generate keys for unknown crypto suite {suite}")
    if not 0 <= tag <= 999_999_999:
        raise SdesError(f"crypto tag {tag} out of range 0..999999999")
    key_salt = secrets.token_bytes(info.key_length + info.salt_length)
    return CryptoAttribute(tag, suite, (KeyParams(key_salt),))


def _parse_key_params(text: str, info: SuiteInfo | None) -> KeyParams:
    method, sep, rest = text.partition(":")
    if not sep or method.lower() != "inline":
        raise SdesError("crypto key method must be 'inline'")
    fields = rest.split("|")
    if len(fields) > 3:
        raise SdesError("crypto key parameter has too many '|' fields")
    try:
        key_salt = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError):
        raise SdesError("crypto key is not valid base64") from None
    if info is not None and len(key_salt) != info.key_length + info.salt_length:
        raise SdesError(f"crypto key for {info.name} must be {info.key_length}+"
                        f"{info.salt_length} bytes, got {len(key_salt)}")
    lifetime: int | None = None
    as_power = True
    mki: tuple[int, int] | None = None
    for extra in fields[1:]:
        if ":" in extra:
            m = _MKI_RE.fullmatch(extra)
            if m is None or mki is not None:
                raise SdesError("crypto MKI must be '<value>:<length>' and appear once")
            length = int(m.group(2))
            value = int(m.group(1))
            if not 1 <= length <= 128 or value.bit_length() > 8 * length:
                raise SdesError("crypto MKI length must be 1..128 bytes and hold its value")
            mki = (value, length)
        else:
            m = _LIFETIME_RE.fullmatch(extra)
            if m is None or lifetime is not None or mki is not None:
                raise SdesError("crypto lifetime must be '2^n' or decimal, before the MKI")
            lifetime = 1 << int(m.group(1)) if m.group(1) else int(m.group(2))
            as_power = m.group(1) is not None
            if info is not None and lifetime > info.max_lifetime:
                raise SdesError(f"crypto lifetime exceeds the {info.name} maximum")
    return KeyParams(key_salt, lifetime, mki, as_power)


def parse_crypto(value: str) -> CryptoAttribute:
    """Parse the value of an ``a=crypto`` attribute (the text after ``crypto:``)."""
    tokens = value.split()
    if len(tokens) < 3:
        raise SdesError("a=crypto needs '<tag> <suite> <key-params>'")
    tag_text, suite, key_text, *session_params = tokens
    if _TAG_RE.fullmatch(tag_text) is None:
        raise SdesError("a=crypto tag must be 1-9 digits")
    if _SUITE_RE.fullmatch(suite) is None:
        raise SdesError("a=crypto suite name is malformed")
    info = SUITES.get(suite)
    keys = tuple(_parse_key_params(k, info) for k in key_text.split(";"))
    if info is not None and len(keys) > 1 and any(k.mki is None for k in keys):
        raise SdesError("several crypto keys need an MKI each (RFC 4568 §6.1)")
    return CryptoAttribute(int(tag_text), suite, keys, tuple(session_params))
