"""Runs a TwiML document for one call, verb after verb, as Twilio does.

The interpreter decides *what* happens; the call (a :class:`CallControl`, the B2BUA's side)
does it on the wire. Twilio's rules kept here:

- every verb but ``<Reject>`` and ``<Redirect>`` answers the call first;
- ``<Start><Siprec>`` starts the recording and continues at once; a refused one (unknown
  connector, a 5th forked stream, a duplicate name) is reported as an alert and the call goes
  on, exactly as a recording that fails later does;
- ``<Dial action>`` and ``<Redirect>`` replace the rest of the document with the one fetched;
  without ``action`` the document continues after ``<Dial>``;
- when the document runs out the call is hung up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol

from src_client import errors
from src_client.errors import TwilioError
from src_client.twiml.document import (
    Dial,
    Hangup,
    HttpMethod,
    Pause,
    Play,
    Redirect,
    Reject,
    RejectReason,
    Response,
    Start,
    Stop,
    Verb,
)

__all__ = ["MAX_DOCUMENTS", "CallControl", "DialOutcome", "Interpreter"]

log = logging.getLogger("src_client.twiml")

#: Documents one call may fetch (Redirect / Dial action): a loop between two URLs ends here.
MAX_DOCUMENTS: Final = 100


@dataclass(frozen=True, slots=True)
class DialOutcome:
    """How a ``<Dial>`` ended: Twilio's ``DialCallStatus`` and friends."""

    status: str  # completed | busy | no-answer | failed | canceled
    call_sid: str | None = None
    duration: int = 0

    def params(self) -> dict[str, str]:
        params = {"DialCallStatus": self.status}
        if self.call_sid is not None:
            params["DialCallSid"] = self.call_sid
            params["DialCallDuration"] = str(self.duration)
        return params


class CallControl(Protocol):
    """What the interpreter needs from the call it runs on."""

    @property
    def sid(self) -> str: ...

    @property
    def active(self) -> bool:
        """False once the call ended (the interpreter stops)."""
        ...

    async def answer(self) -> None:
        """Answer the call if it is not yet (idempotent)."""

    async def reject(self, reason: RejectReason) -> None: ...

    async def hangup(self) -> None: ...

    async def dial(self, dial: Dial) -> DialOutcome: ...

    async def play(self, play: Play) -> None:
        """Play to the caller until done; audio that cannot be played is reported by the
        call and skipped (the document goes on, as with Twilio's warning 11200)."""

    async def fetch(self, url: str, method: HttpMethod, extra: Mapping[str, str]) -> Response:
        """Fetch and parse a document with the call's standard parameters plus ``extra``."""
        ...

    def start_siprec(self, start: Start) -> list[TwilioError]:
        """Start each recording of a ``<Start>``; the errors of those refused."""
        ...

    async def stop_siprec(self, name: str) -> None:
        """Stop the call's recording ``name``; TwilioError when there is none."""


class Interpreter:
    """One per call; :meth:`run` returns when the call is over or the document ran out."""

    def __init__(
        self,
        call: CallControl,
        *,
        report: Callable[[str, TwilioError], None],
    ) -> None:
        self._call = call
        self._report = report  # (call sid, error): alerts for the Debugger-like log
        self._fetched = 0

    async def run(self, document: Response) -> None:
        current: Response | None = document
        while current is not None:
            following: Response | None = None
            for verb in current.verbs:
                if not self._call.active:
                    return
                try:
                    outcome = await self._execute(verb)
                except TwilioError as exc:  # a document fetch failed: Twilio ends the call
                    self._report(self._call.sid, exc)
                    await self._call.hangup()
                    return
                if outcome is _Flow.END:
                    return
                if isinstance(outcome, Response):
                    following = outcome
                    break
            current = following
        if self._call.active:
            await self._call.hangup()

    async def _fetch(self, url: str, method: HttpMethod, extra: Mapping[str, str]) -> Response:
        if self._fetched >= MAX_DOCUMENTS:
            raise TwilioError(
                errors.HTTP_TOO_MANY_REDIRECTS, url=f"{url} (the call fetched {MAX_DOCUMENTS})"
            )
        self._fetched += 1
        return await self._call.fetch(url, method, extra)

    async def _execute(self, verb: Verb) -> Response | _Flow:
        call = self._call
        if not isinstance(verb, Reject | Redirect):
            await call.answer()
            if not call.active:
                return _Flow.END
        match verb:
            case Start():
                for error in call.start_siprec(verb):
                    log.warning("call %s: <Siprec> refused: %s", call.sid, error)
                    self._report(call.sid, error)
            case Stop():
                for stop in verb.siprecs:
                    try:
                        await call.stop_siprec(stop.name)
                    except TwilioError as error:
                        log.warning("call %s: <Stop><Siprec>: %s", call.sid, error)
                        self._report(call.sid, error)
            case Dial():
                outcome = await call.dial(verb)
                if verb.action is not None and call.active:
                    return await self._fetch(verb.action, verb.method, outcome.params())
            case Pause():
                await asyncio.sleep(verb.length)
            case Play():
                await call.play(verb)
            case Hangup():
                await call.hangup()
                return _Flow.END
            case Reject():
                await call.reject(verb.reason)
                return _Flow.END
            case Redirect():
                return await self._fetch(verb.url, verb.method, {})
        return _Flow.NEXT


class _Flow(Enum):
    NEXT = "next"
    END = "end"
