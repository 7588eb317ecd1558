"""SiprecService + SipEndpoint + media Engine against SIPp SRS scenarios, over UDP and TCP.

SIPp checks every recording-session INVITE with the regexps of configs/sipp/srs_*.xml and
fails its call on a violation, so each ``verdict`` below is also a wire-conformance check.
"""

from __future__ import annotations

import pytest

from src_client.siprec.resource import SiprecStatus
from src_client.siprec.service import SiprecEvent
from src_client.siprec.session import SessionState

from srs_rig import ACCOUNT_SID, Callback, Rig, verdict

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
    srs = rig.srs("srs_answer.xml", transport, call=call, labels=labels)
    await srs.start()
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

    stopped = await rig.service.stop(call.sid, "rec")  # by name
    assert stopped is resource and resource.status is SiprecStatus.STOPPED
    callback = await rig.callbacks.wait_for(resource.sid, SiprecEvent.STOPPED)
    check_callback(callback, SiprecEvent.STOPPED, call_sid=call.sid, sid=resource.sid,
                   name="rec")
    assert rig.engine.stats().forks == 0
    assert rig.callbacks.events(resource.sid) == [SiprecEvent.STARTED, SiprecEvent.STOPPED]
    assert rig.changes == [(resource.sid, "in-progress"), (resource.sid, "stopped")]
    assert resource.error_code is None and not rig.alerts
    await verdict(srs)
