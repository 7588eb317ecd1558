"""Twilio's execution rules, checked on a recorded script of what the interpreter asked the
call to do (the wire side is proven end to end in test_sipp_calls.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from src_client import errors
from src_client.errors import TwilioError
from src_client.twiml import parse_twiml
from src_client.twiml.document import Dial, HttpMethod, Play, RejectReason, Response, Start
from src_client.twiml.interpreter import MAX_DOCUMENTS, DialOutcome, Interpreter


@dataclass
class ScriptedCall:
    documents: dict[str, str] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    fetched: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    ended: bool = False

    @property
    def sid(self) -> str:
        return "CA" + "0" * 32

    @property
    def active(self) -> bool:
        return not self.ended

    async def answer(self) -> None:
        if "answer" not in self.actions:
            self.actions.append("answer")

    async def reject(self, reason: RejectReason) -> None:
        self.actions.append(f"reject {reason}")
        self.ended = True

    async def hangup(self) -> None:
        self.actions.append("hangup")
        self.ended = True

    async def dial(self, dial: Dial) -> DialOutcome:
        self.actions.append("dial")
        return DialOutcome("busy")

    async def play(self, play: Play) -> None:
        self.actions.append(f"play {play.source}")

    async def fetch(self, url: str, method: HttpMethod, extra: Mapping[str, str]) -> Response:
        self.fetched.append((url, dict(extra)))
        if url not in self.documents:
            raise TwilioError(errors.HTTP_RETRIEVAL_FAILURE, url=url, status=404)
        return parse_twiml(self.documents[url], base_url=url)

    def start_siprec(self, start: Start) -> list[TwilioError]:
        self.actions.append("start")
        return [TwilioError(errors.UNKNOWN_CONNECTOR, connector_name="x")]

    async def stop_siprec(self, name: str) -> None:
        self.actions.append(f"stop {name}")
        raise TwilioError(errors.SIPREC_NOT_FOUND, sid=name, call_sid=self.sid)


async def run(call: ScriptedCall, twiml: str) -> list[tuple[str, TwilioError]]:
    reported: list[tuple[str, TwilioError]] = []
    interpreter = Interpreter(call, report=lambda sid, e: reported.append((sid, e)))
    await interpreter.run(parse_twiml(twiml))
    return reported


async def test_reject_does_not_answer() -> None:
    call = ScriptedCall()
    await run(
        call, '<Response><Reject reason="busy"/><Play>http://a.example/x.wav</Play></Response>'
    )
    assert call.actions == ["reject busy"]


async def test_refused_siprec_is_reported_and_the_call_goes_on_to_the_end() -> None:
    call = ScriptedCall()
    reported = await run(
        call,
        '<Response><Start><Siprec connectorName="x"/></Start><Dial>+15550100</Dial></Response>',
    )
    assert call.actions == ["answer", "start", "dial", "hangup"]  # ran out: hung up
    assert [e.code for _, e in reported] == [errors.UNKNOWN_CONNECTOR.code]


async def test_dial_action_replaces_the_rest_of_the_document() -> None:
    call = ScriptedCall(documents={"http://app.example/next": "<Response><Hangup/></Response>"})
    await run(
        call,
        '<Response><Dial action="http://app.example/next">+15550100</Dial>'
        "<Play>http://a.example/never.wav</Play></Response>",
    )
    assert call.actions == ["answer", "dial", "hangup"]
    assert call.fetched == [("http://app.example/next", {"DialCallStatus": "busy"})]


async def test_redirect_loops_are_bounded() -> None:
    loop = "<Response><Play>http://a.example/x.wav</Play><Redirect>http://app.example/loop</Redirect></Response>"
    call = ScriptedCall(documents={"http://app.example/loop": loop})
    reported = await run(call, loop)
    assert (
        len(call.fetched) == MAX_DOCUMENTS
        and call.actions.count("play http://a.example/x.wav") == MAX_DOCUMENTS + 1
    )
    assert call.actions[-1] == "hangup"
    assert [e.code for _, e in reported] == [errors.HTTP_TOO_MANY_REDIRECTS.code]


async def test_failed_fetch_is_reported_and_hangs_up() -> None:
    call = ScriptedCall()
    reported = await run(call, "<Response><Redirect>http://app.example/gone</Redirect></Response>")
    assert call.actions == ["hangup"]
    assert [e.code for _, e in reported] == [errors.HTTP_RETRIEVAL_FAILURE.code]
