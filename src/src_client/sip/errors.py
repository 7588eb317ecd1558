"""Errors raised by the SIP stack.

Parse errors carry a short reason that the UAS core can put straight into a 400 reason
phrase, and, when the request was readable enough to be answered, the partial request
(RFC 3261 §8.2.6 needs Via, From, To, Call-ID and CSeq to build any response).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import Request


class SipError(Exception):
    """Base of every error the SIP stack raises on purpose."""


class SipParseError(SipError):
    """Malformed or over-limit input; never carries secrets, only a short reason."""

    reason: str
    partial: Request | None

    def __init__(self, reason: str, partial: Request | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial
