"""What the REST API asks of the calls layer: find a live call, hang it up, redirect it.

The API reads call *records* from the store (history survives the calls); only actions on
a live call go through :class:`CallControl`, which the B2BUA implements.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from src_client.siprec.session import RecordedCall
from src_client.twiml.document import HttpMethod
from src_client.twiml.document import Response as TwimlDocument


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where a live call continues: an inline document, or TwiML fetched from ``url``."""

    twiml: TwimlDocument | None = None
    url: str | None = None
    method: HttpMethod = HttpMethod.POST

    def __post_init__(self) -> None:
        if (self.twiml is None) == (self.url is None):
            raise ValueError("a Redirect has either a TwiML document or a URL")


class CallControl(Protocol):
    def recorded_call(self, call_sid: str) -> RecordedCall | None:
        """The live call (what a recording needs), or None if unknown or ended."""

    def active_calls(self) -> Collection[object]:
        """Calls currently up (counted for /metrics)."""

    async def hangup(self, call_sid: str) -> object:
        """End a live call (BYE, or CANCEL while ringing). On return the call's record in
        the store says how it ended and its recordings are stopped."""

    async def redirect(self, call_sid: str, redirect: Redirect) -> None:
        """Abandon the current TwiML and continue with ``redirect``; the record in the store
        is current on return."""
