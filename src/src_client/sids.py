"""Twilio-style resource identifiers (SIDs): a two-letter type prefix + 32 hex digits.

Twilio's OpenAPI describes every SID with the pattern ``^XX[0-9a-fA-F]{32}$`` (34 characters);
the SIDs it issues use lowercase hex, so :func:`new_sid` emits lowercase while validation
accepts either case, as Twilio's own schema does. The 128 random bits come from
:mod:`secrets` because a SID doubles as an unguessable handle in REST URLs.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Final

__all__ = ["SID_LENGTH", "InvalidSidError", "SidPrefix", "is_sid", "new_sid", "parse_sid"]

SID_LENGTH: Final = 34
_HEX_DIGITS: Final = 32


class SidPrefix(StrEnum):
    """The resource types src-client issues SIDs for."""

    ACCOUNT = "AC"
    CALL = "CA"
    SIPREC = "SR"
    ALERT = "NO"  # Twilio's Monitor Alerts (the Debugger) use NO-prefixed SIDs.


_PATTERNS: Final = {
    prefix: re.compile(rf"{prefix.value}[0-9a-fA-F]{{{_HEX_DIGITS}}}") for prefix in SidPrefix
}


class InvalidSidError(ValueError):
    """A string that is not a SID of the expected type."""

    def __init__(self, value: str, prefix: SidPrefix) -> None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        super().__init__(
            f"{shown!r} is not a valid {prefix.name.lower()} SID "
            f"(expected {prefix.value} followed by {_HEX_DIGITS} hex digits)"
        )
        self.value = value
        self.prefix = prefix


def new_sid(prefix: SidPrefix) -> str:
    """Return a fresh random SID of the given type, lowercase hex as Twilio issues them."""
    return prefix.value + secrets.token_hex(_HEX_DIGITS // 2)


def is_sid(value: str, prefix: SidPrefix) -> bool:
    """True when ``value`` is exactly a SID of type ``prefix`` (no surrounding text)."""
    return _PATTERNS[prefix].fullmatch(value) is not None


def parse_sid(value: str, prefix: SidPrefix) -> str:
    """Return ``value`` unchanged if it is a SID of type ``prefix``, else raise InvalidSidError.

    The value is returned as given (not case-folded): Twilio treats SIDs as opaque strings,
    so a lookup must use the exact spelling the resource was created with.
    """
    if not is_sid(value, prefix):
        raise InvalidSidError(value, prefix)
    return value
