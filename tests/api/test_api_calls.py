"""Calls history, hang-up and redirect through the official twilio client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import ACCOUNT, Api, basic
from src_client.calls.call import CallStatus
from src_client.sids import SidPrefix, new_sid
from src_client.store import CallRecord


async def test_list_and_fetch_calls_newest_first_with_filters(api: Api) -> None:
    first = api.calls.start(ACCOUNT, caller="+15550101")
    second = api.calls.start(ACCOUNT, caller="+15550102")
    old = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    ended = CallRecord(sid=new_sid(SidPrefix.CALL), account_sid=ACCOUNT, from_="sip:x@h",
                       to="sip:y@h", status=CallStatus.COMPLETED, start_time=old,
                       end_time=old + timedelta(seconds=42), date_created=old, date_updated=old)
    api.store.save_call(ended)
    client = api.client()
    calls = await api.run(lambda: client.calls.list())
    assert [c.sid for c in calls] == [second.sid, first.sid, ended.sid]
    assert calls[2].duration == "42" and calls[2].status == "completed"
    assert calls[2].start_time == old  # RFC 2822 round trip through twilio-python
    only = await api.run(lambda: client.calls.list(from_="sip:+15550101@carrier.example"))
    assert [c.sid for c in only] == [first.sid]
    done = await api.run(lambda: client.calls.list(status="completed"))
    assert [c.sid for c in done] == [ended.sid]
    day = await api.run(lambda: client.calls.list(start_time=old.date()))
    assert [c.sid for c in day] == [ended.sid]
    before = await api.run(lambda: client.calls.list(start_time_before=datetime(2021, 1, 1,
                                                                                 tzinfo=UTC)))
    assert [c.sid for c in before] == [ended.sid]
    paged = await api.run(lambda: list(client.calls.stream(page_size=1)))
    assert [c.sid for c in paged] == [second.sid, first.sid, ended.sid]  # next_page_uri works
    fetched = await api.run(lambda: client.calls(first.sid).fetch())
    assert (fetched.sid, fetched.status, fetched._from) == (
        first.sid, "in-progress", "sip:+15550101@carrier.example")
    assert fetched.subresource_uris == {
        "siprec": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{first.sid}/Siprec.json"}


async def test_hangup_ends_the_call_and_its_recordings(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    recording = await api.run(lambda: client.calls(call.sid).siprec.create(
        connector_name="srs1", status_callback=api.callbacks.url))
    await api.callbacks.wait_for("siprec-started", recording.sid)
    ended = await api.run(lambda: client.calls(call.sid).update(status="completed"))
    assert ended.status == "completed" and ended.end_time is not None
    await api.callbacks.wait_for("siprec-stopped", recording.sid)
    listed = await api.http.get(api.url(api.siprec_path(call.sid)), headers=basic())
    assert [r["status"] for r in (await listed.json())["siprec"]] == ["stopped"]
    # recordings of an ended call stay queryable; starting one is refused
    again = await api.run(lambda: client.calls(call.sid).update(status="completed"))
    assert again.status == "completed"
    with pytest.raises(TwilioRestException) as info:
        await api.run(lambda: client.calls(call.sid).siprec.create(connector_name="srs1"))
    assert (info.value.status, info.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as info:
        await api.run(lambda: client.calls(call.sid).update(url="https://example.com/next"))
    assert (info.value.status, info.value.code) == (400, 21220)


async def test_redirect_with_twiml_or_url(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    twiml = "<Response><Start><Siprec connectorName=\"srs1\"/></Start></Response>"
    updated = await api.run(lambda: client.calls(call.sid).update(twiml=twiml))
    assert updated.status == "in-progress"
    kept = await api.run(lambda: client.calls(call.sid).update(status="canceled"))
    assert kept.status == "in-progress"  # canceled only ends calls not yet answered
    await api.run(lambda: client.calls(call.sid).update(url="https://example.com/next",
                                                        method="GET"))
    [(sid1, first), (sid2, second)] = api.calls.redirects
    assert sid1 == sid2 == call.sid
    assert first.twiml is not None and len(first.twiml.verbs) == 1
    assert (second.url, second.method) == ("https://example.com/next", "GET")

    async def error(**kw: str) -> tuple[int, int]:
        with pytest.raises(TwilioRestException) as info:
            await api.run(partial(client.calls(call.sid).update, **kw))
        return info.value.status, info.value.code

    assert await error(twiml="<Response><Nope/></Response>") == (400, 12200)
    assert await error(twiml="<Response>") == (400, 12100)
    assert await error(twiml="<Response>" + " " * 4000 + "</Response>") == (400, 31962)
    assert await error(url="not a url") == (400, 11100)
    assert await error(url="https://example.com/x", method="PATCH") == (400, 21209)
    assert await error(status="busy") == (400, 31962)
    assert await error(fallback_url="https://example.com/f") == (400, 31962)
    assert len(api.calls.redirects) == 2
