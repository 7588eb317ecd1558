"""The Siprec subresource through the official twilio client, against a real SRS."""

from __future__ import annotations

from functools import partial

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, Api, basic
from src_client.siprec.resource import SiprecStatus
from src_client.store import SqliteStore


def every_parameter(count: int) -> dict[str, str]:
    params = {}
    for n in range(1, count + 1):
        params[f"parameter{n}_name"] = f"P{n}"
        params[f"parameter{n}_value"] = f"value {n} ü"
    return params


async def test_create_with_every_parameter_then_stop_by_sid(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    created = await api.run(lambda: client.calls(call.sid).siprec.create(
        name="first", connector_name="srs1", track="both_tracks",
        status_callback=api.callbacks.url, status_callback_method="GET",
        **every_parameter(99)))
    assert created.sid is not None and created.sid.startswith("SR")
    assert (created.account_sid, created.call_sid, created.name, created.status) == (
        ACCOUNT, call.sid, "first", "in-progress")
    assert created.uri == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}/Siprec/" \
                          f"{created.sid}.json"
    assert created.date_updated is not None  # parsed from RFC 2822 by twilio-python
    # committed before the answer: a second connection to the file sees it
    other = SqliteStore(api.db_path)
    stored = other.get_siprec(call.sid, created.sid)
    other.close()
    assert stored is not None and len(stored.parameters) == 99
    assert stored.parameters[98] == ("P99", "value 99 ü")

    started = await api.callbacks.wait_for("siprec-started", created.sid)
    assert started["SiprecName"] == "first" and started["CallSid"] == call.sid
    [recording] = api.srs.recordings.values()
    metadata = recording.metadata[0].decode()
    assert "P99" in metadata and "value 99 ü" in metadata  # parameters reached the SRS
    assert set(recording.streams) == {"1", "2"}

    stopped = await api.run(lambda: client.calls(call.sid).siprec(created.sid).update(
        status="stopped"))
    assert stopped.status == "stopped" and stopped.sid == created.sid
    await api.callbacks.wait_for("siprec-stopped", created.sid)
    await recording.finished.wait()
    fetched = api.store.get_siprec(call.sid, created.sid)
    assert fetched is not None and fetched.status is SiprecStatus.STOPPED
    # stopping again is harmless, as with Twilio
    again = await api.run(lambda: client.calls(call.sid).siprec(created.sid).update(
        status="stopped"))
    assert again.status == "stopped"


async def test_stop_by_name_and_reuse_the_name(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    first = await api.run(lambda: client.calls(call.sid).siprec.create(
        name="agent", connector_name="srs1"))
    stopped = await api.run(lambda: client.calls(call.sid).siprec("agent").update(
        status="stopped"))
    assert stopped.sid == first.sid and stopped.status == "stopped"
    second = await api.run(lambda: client.calls(call.sid).siprec.create(
        name="agent", connector_name="srs1", track="outbound_track"))
    assert second.sid != first.sid
    by_name = await api.http.get(api.url(api.siprec_path(call.sid, "agent")),
                                 headers=basic())
    assert (await by_name.json())["sid"] == second.sid  # the running one wins


async def test_bad_input_gives_twilio_errors(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    siprec = client.calls(call.sid).siprec

    async def error(fn: object) -> tuple[int, int]:
        with pytest.raises(TwilioRestException) as info:
            await api.run(fn)  # type: ignore[arg-type]
        assert info.value.msg and "token" not in info.value.msg.lower()
        return info.value.status, info.value.code

    assert await error(lambda: siprec.create(connector_name="srs1", track="left")) == (
        400, 31941)
    assert await error(lambda: siprec.create(connector_name="nope")) == (400, 31940)
    assert await error(lambda: siprec.create()) == (400, 31962)  # no ConnectorName
    assert await error(lambda: siprec.create(connector_name="srs1",
                                             status_callback="ftp://x/y")) == (400, 11100)
    assert await error(lambda: siprec.create(connector_name="srs1",
                                             status_callback_method="PUT")) == (400, 21209)
    assert await error(lambda: siprec.create(connector_name="srs1",
                                             parameter1_name="Bad\r\nHeader")) == (400, 31962)
    assert await error(lambda: client.calls("CA" + "0" * 32).siprec.create(
        connector_name="srs1")) == (404, 20404)
    assert await error(lambda: siprec("SR" + "0" * 32).update(status="stopped")) == (
        404, 20404)
    # the fork limit: 2 + 2 streams, then one more is refused
    await api.run(lambda: siprec.create(connector_name="srs1", track="both_tracks",
                                        name="a"))
    await api.run(lambda: siprec.create(connector_name="srs1", track="both_tracks"))
    assert await error(lambda: siprec.create(connector_name="srs1")) == (400, 31960)
    assert await error(lambda: siprec.create(connector_name="srs1", name="a")) == (400, 31961)
    # wrong token, and another account's call
    assert await error(lambda: api.client(token="wrong").calls(call.sid).siprec.create(
        connector_name="srs1")) == (401, 20003)
    intruder = api.client(OTHER_ACCOUNT, OTHER_TOKEN)
    assert await error(lambda: intruder.calls(call.sid).siprec.create(
        connector_name="srs1")) == (404, 20404)
    assert await error(lambda: intruder.calls(call.sid).siprec("a").update(
        status="stopped")) == (404, 20404)


async def test_unreachable_srs_is_created_then_stops_with_an_alert(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    created = await api.run(lambda: client.calls(call.sid).siprec.create(
        connector_name="dead", status_callback=api.callbacks.url))
    assert created.status == "in-progress"
    error = await api.callbacks.wait_for("siprec-error", created.sid)
    assert error["SiprecErrorCode"] == "31966"
    await api.callbacks.wait_for("siprec-stopped", created.sid)
    fetched = await api.run(lambda: client.calls(call.sid).siprec(created.sid).update(
        status="stopped"))
    assert fetched.status == "stopped"
    alerts = await api.run(lambda: client.monitor.v1.alerts.list())
    assert [(a.error_code, a.resource_sid) for a in alerts] == [("31966", call.sid)]
    assert created.sid in (alerts[0].alert_text or "")
    one = await api.run(lambda: client.monitor.v1.alerts(alerts[0].sid).fetch())
    assert one.sid == alerts[0].sid and one.log_level == "error"
    intruder = api.client(OTHER_ACCOUNT, OTHER_TOKEN)
    assert await api.run(lambda: intruder.monitor.v1.alerts.list()) == []
    with pytest.raises(TwilioRestException) as info:
        await api.run(lambda: intruder.monitor.v1.alerts(alerts[0].sid).fetch())
    assert (info.value.status, info.value.code) == (404, 20404)


async def test_list_pages_through_a_calls_recordings(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    siprec = client.calls(call.sid).siprec
    sids = []
    for n in range(5):
        created = await api.run(partial(siprec.create, connector_name="dead", name=f"r{n}"))
        await api.run(partial(siprec(created.sid).update, status="stopped"))
        sids.append(created.sid)
    path = api.siprec_path(call.sid)
    seen: list[str] = []
    url: str | None = api.url(path + "?PageSize=2")
    pages = 0
    while url is not None and pages < 5:
        response = await api.http.get(url, headers=basic())
        assert response.status == 200
        page = await response.json()
        seen.extend(r["sid"] for r in page["siprec"])
        assert page["page_size"] == 2 and page["first_page_uri"].startswith(path)
        url = api.url(page["next_page_uri"]) if page["next_page_uri"] else None
        pages += 1
    assert seen == sids and pages == 3


