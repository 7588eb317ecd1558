"""SiprecService + SipEndpoint + media Engine against SIPp SRS scenarios, over UDP and TCP.

SIPp checks every recording-session INVITE with the regexps of configs/sipp/srs_*.xml and
fails its call on a violation, so each ``verdict`` below is also a wire-conformance check.
"""

from __future__ import annotations

import asyncio

import pytest
from srs_rig import ACCOUNT_SID, CREDENTIAL, Callback, Rig, verdict

from src_client import errors
from src_client.errors import TwilioError
from src_client.siprec.connectors import Secret
from src_client.siprec.resource import SiprecResource, SiprecStatus
from src_client.siprec.service import SiprecEvent
from src_client.siprec.session import RecordedCall, SessionState

TRANSPORTS = ["udp", "tcp"]


def check_callback(callback: Callback, event: str, *, call_sid: str, sid: str,
                   name: str) -> None:
    assert callback.signed, callback
    params = callback.params
    assert params["SiprecEvent"] == event
    assert (params["AccountSid"], params["CallSid"], params["SiprecSid"]) == (
        ACCOUNT_SID, call_sid, sid)
    assert params["SiprecName"] == name
    assert params["Timestamp"].endswith("+0000")
    assert params["CallStatus"] == "in-progress"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("track", "labels"), [("inbound_track", "1"), ("both_tracks", "12"),
                                               ("outbound_track", "2")])
async def test_happy_path(rig: Rig, transport: str, track: str, labels: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_answer.xml", transport, call=call, labels=labels)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", name="rec", track=track,
                                  status_callback=rig.callbacks.url,
                                  parameters=[("Agent", "42")])
    assert resource.status is SiprecStatus.IN_PROGRESS
    started = await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    check_callback(started, SiprecEvent.STARTED, call_sid=call.sid, sid=resource.sid,
                   name="rec")
    session = rig.service.session(resource.sid)
    assert session is not None and session.state is SessionState.ACTIVE
    assert rig.engine.stats().forks == len(labels)
    for _ in range(100):  # the forks copy the call's RTP toward SIPp's media port
        if session.media_now().packets >= 5 * len(labels):
            break
        await asyncio.sleep(0.02)
    assert session.media_now().packets >= 5 * len(labels)

    stopped = await rig.service.stop(call.sid, "rec")  # by name
    assert stopped is resource and stopped.status is SiprecStatus.STOPPED
    callback = await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    check_callback(callback, SiprecEvent.STOPPED, call_sid=call.sid, sid=resource.sid,
                   name="rec")
    assert rig.engine.stats().forks == 0
    assert rig.callbacks.events(resource.sid) == [SiprecEvent.STARTED, SiprecEvent.STOPPED]
    assert rig.changes == [(resource.sid, "in-progress"), (resource.sid, "stopped")]
    assert resource.error_code is None and not rig.alerts
    await verdict(srs)


async def check_error(rig: Rig, resource: SiprecResource, code: int) -> Callback:
    """A failed start: siprec-error with the code, then siprec-stopped; an alert; no fork."""
    error = await rig.callbacks.wait_for(resource.sid, SiprecEvent.ERROR)
    assert error.signed and error.params["SiprecErrorCode"] == str(code), error
    assert error.params["SiprecError"]
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    assert rig.callbacks.events(resource.sid) == [SiprecEvent.ERROR, SiprecEvent.STOPPED]
    assert resource.status is SiprecStatus.STOPPED and resource.error_code == code
    assert [(a.siprec_sid, a.error_code) for a in rig.alerts] == [(resource.sid, code)]
    assert CREDENTIAL not in error.params["SiprecError"]
    assert rig.engine.stats().forks == 0
    return error


async def call_untouched(call: RecordedCall) -> None:
    """Whatever happened to the recording, the call's leg is still open and receiving."""
    assert not call.leg.closed
    before = call.leg.stats().packets_in
    for _ in range(100):  # the rig's sender keeps talking for 10 s; bounded wait
        await asyncio.sleep(0.02)
        if call.leg.stats().packets_in > before:
            break
    assert call.leg.stats().packets_in > before


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_srs_rejects_with_488(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_reject_488.xml", transport, call=call)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    error = await check_error(rig, resource, errors.SRS_REJECTED.code)
    assert "488" in error.params["SiprecError"]
    await verdict(srs)
    await call_untouched(call)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_srs_never_answers(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_no_answer.xml", transport, call=call)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    await check_error(rig, resource, errors.SRS_TIMEOUT.code)
    await verdict(srs)  # it saw the CANCEL and closed the INVITE with 487/ACK
    await call_untouched(call)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_digest_challenge_answered(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_auth.xml", transport, call=call, user="recorder", password="pa55-w0rd")
    rig.connector("srs", srs, transport=transport, digest_username="recorder",
                  digest_password=Secret("pa55-w0rd"))
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    session = rig.service.session(resource.sid)
    assert session is not None and session.sip_responses == [200]  # the stack answered 401
    await rig.service.stop(call.sid, resource.sid)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    await verdict(srs)  # verifyauth recomputed our digest


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_srs_bye_stops_the_recording(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_bye.xml", transport, call=call)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", name="bye",
                                  status_callback=rig.callbacks.url,
                                  status_callback_method="GET")
    started = await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    assert started.method == "GET"
    stopped = await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    check_callback(stopped, SiprecEvent.STOPPED, call_sid=call.sid, sid=resource.sid,
                   name="bye")
    assert resource.status is SiprecStatus.STOPPED and resource.error_code is None
    assert rig.service.session(resource.sid) is None and rig.engine.stats().forks == 0
    await verdict(srs)
    await call_untouched(call)
    # stopping what the SRS already ended is a no-op, as Twilio's update of a stopped Siprec
    assert await rig.service.stop(call.sid, "bye") is resource


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_srs_reinvite_update_options_answered(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_reinvite.xml", transport, call=call)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    session = rig.service.session(resource.sid)
    assert session is not None and session.dialog is not None
    dialog = session.dialog
    for _ in range(200):  # re-INVITE, re-INVITE, UPDATE, OPTIONS: CSeq 4 (bounded wait)
        if dialog.remote_cseq >= 4:
            break
        await asyncio.sleep(0.025)
    assert dialog.remote_cseq == 4
    assert session.state is SessionState.ACTIVE and not dialog.terminated.is_set()
    sent = session.media_now().packets
    for _ in range(100):  # resumed by the second re-INVITE: the fork sends again
        await asyncio.sleep(0.02)
        if session.media_now().packets > sent:
            break
    assert session.media_now().packets > sent
    await rig.service.stop(call.sid, resource.sid)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    assert rig.callbacks.events(resource.sid) == [SiprecEvent.STARTED, SiprecEvent.STOPPED]
    await verdict(srs)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_failover_to_second_srs(rig: Rig, transport: str) -> None:
    call = rig.call()
    first = await rig.srs("srs_failover_503.xml", transport, call=call, labels="12")
    second = await rig.srs("srs_answer.xml", transport, call=call, labels="12")
    rig.connector("srs", first, second, transport=transport)
    resource = rig.service.create(call, connector_name="srs", track="both_tracks",
                                  status_callback=rig.callbacks.url)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    session = rig.service.session(resource.sid)
    assert session is not None and session.srs is not None
    assert session.srs.uri.port == second.port and session.sip_responses == [503, 200]
    await rig.service.stop(call.sid, resource.sid)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    assert rig.callbacks.events(resource.sid) == [SiprecEvent.STARTED, SiprecEvent.STOPPED]
    await verdict(first)
    await verdict(second)


async def test_failover_exhausted_reports_the_last_failure(rig: Rig) -> None:
    call = rig.call()
    first = await rig.srs("srs_failover_503.xml", call=call)
    second = await rig.srs("srs_reject_488.xml", call=call)
    rig.connector("srs", first, second)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    error = await check_error(rig, resource, errors.SRS_REJECTED.code)
    assert "488" in error.params["SiprecError"] and str(second.port) in error.params["SiprecError"]
    await verdict(first)
    await verdict(second)
    await call_untouched(call)


async def test_fifth_stream_refused_while_the_call_goes_on(rig: Rig) -> None:
    call = rig.call(packets=150)
    plan = [("both", "both_tracks", "12"), ("in", "inbound_track", "1"),
            ("out", "outbound_track", "2")]
    resources = []
    for name, track, labels in plan:
        srs = await rig.srs("srs_answer.xml", call=call, labels=labels)
        rig.connector(name, srs)
        resources.append(rig.service.create(call, connector_name=name, name=name, track=track,
                                            status_callback=rig.callbacks.url))
    for resource in resources:
        await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    assert rig.engine.stats().forks == 4
    with pytest.raises(TwilioError) as refused:
        rig.service.create(call, connector_name="in", name="fifth", track="inbound_track")
    assert refused.value.code == errors.FORK_LIMIT_EXCEEDED.code
    assert refused.value.status == 400
    assert len(rig.service.list(call.sid)) == 3  # nothing registered for the refused one
    assert all(rig.service.session(r.sid) is not None for r in resources)
    await call_untouched(call)

    await rig.service.stop(call.sid, resources[1].sid)  # by SID frees one stream
    assert rig.engine.stats().forks == 3
    srs = await rig.srs("srs_answer.xml", call=call, labels="1")
    rig.connector("again", srs)
    again = rig.service.create(call, connector_name="again", name="in", track="inbound_track",
                               status_callback=rig.callbacks.url)
    await rig.callbacks.wait_for(again.sid, SiprecEvent.STARTED)
    assert rig.service.get(call.sid, "in") is again  # the running one wins the name
    await rig.service.stop_call(call.sid)
    assert rig.engine.stats().forks == 0
    for run in rig.sipps:
        await verdict(run)


@pytest.mark.parametrize(("keys", "check"), [
    ({"labels": "2"}, "got_labels"),
    ({"cred": "another-token"}, "got_cred"),
    ({"recorded_call_id": "someone-else@pbx"}, "got_call_id"),
])
async def test_srs_checks_catch_a_wrong_invite(rig: Rig, keys: dict[str, str],
                                               check: str) -> None:
    """The rig's own sanity check: SIPp fails its call when the INVITE is not what it expects
    (other labels, credentials or recorded Call-ID than the ones we send)."""
    call = rig.call()
    srs = await rig.srs("srs_answer.xml", call=call, timeout=5.0, **keys)
    rig.connector("srs", srs)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    # SIPp marks its call failed but plays on: it answers (with no label when the check
    # failed before the labels were read, which our session refuses as unusable)
    await rig.callbacks.wait_for(resource.sid, (SiprecEvent.STARTED, SiprecEvent.ERROR))
    await rig.service.stop(call.sid, resource.sid)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    assert resource.status is SiprecStatus.STOPPED
    result = await srs.wait()
    assert result.returncode != 0 and result.failed == 1, result.summary()
    assert f"strcmp {check}" in result.errors, result.summary()
    await call_untouched(call)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_hold_sends_a_metadata_update(rig: Rig, transport: str) -> None:
    call = rig.call()
    srs = await rig.srs("srs_metadata_update.xml", transport, call=call)
    rig.connector("srs", srs, transport=transport)
    resource = rig.service.create(call, connector_name="srs", status_callback=rig.callbacks.url)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STARTED)
    session = rig.service.session(resource.sid)
    assert session is not None
    call.on_hold = True
    await rig.service.call_updated(call.sid)
    assert session.sip_responses == [200, 200] and session.state is SessionState.ACTIVE
    await rig.service.call_updated(call.sid)  # nothing changed: no re-INVITE
    assert session.sip_responses == [200, 200]
    await rig.service.stop(call.sid, resource.sid)
    await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    await verdict(srs)
