"""A recorded call through ``src-client serve`` and the bundled ``src-client srs`` on their
default listeners (UDP and TCP on one port), as a new user first runs them."""

from __future__ import annotations

import asyncio

from harness import CallbackSink, Serve, Srs

from conftest import Party
from src_client.callgen import RtpPeer, place_call, speech_like
from src_client.sip.endpoint import SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri


def siprec_twiml(callbacks: CallbackSink, callee: Party, connector: str = "srs") -> str:
    return (f'<Response><Start><Siprec name="r" connectorName="{connector}" track="both_tracks" '
            f'statusCallback="{callbacks.url}"/></Start>'
            f"<Dial><Sip>{callee.uri}</Sip></Dial></Response>")


async def test_recording_reaches_the_bundled_srs_on_its_default_listeners(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    # The SRS listens on UDP and TCP: the SIPREC INVITE (SDP + metadata) is over the MTU
    # threshold, so RFC 3261 §18.1.1 sends it over TCP, the transport uvloop used to break.
    await srs.start()
    serve.connector("srs", srs.uri())
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    try:
        dialog = await place_call(endpoint, parse_uri(serve.sip_uri.format(user="100")),
                                  caller=parse_name_addr("<sip:alice@127.0.0.1>"), peer=caller)
        await callbacks.wait_for(lambda r: "siprec-started" in [p.get("SiprecEvent") for p in r])
        await caller.talk(speech_like(0.5))
        await dialog.bye()
        await callbacks.wait_for(lambda r: "siprec-stopped" in [p.get("SiprecEvent") for p in r])
        assert callbacks.events() == ["siprec-started", "siprec-stopped"]
        for _ in range(100):
            if srs.summaries():
                break
            await asyncio.sleep(0.05)
        [summary] = srs.summaries()
        assert summary["sip"]["transport"] == "tcp", summary["sip"]
    finally:
        caller.close()
        await endpoint.close()
    assert serve.command is not None and not serve.command.tracebacks()
