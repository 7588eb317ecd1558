"""HTTP-level behaviour: authentication, error bodies for every bad request, no leaks."""

from __future__ import annotations

import base64
import logging

import pytest

from conftest import ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, TOKEN, Api, basic
from src_client import errors
from src_client.api.auth import authenticate
from src_client.errors import TwilioError

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def error_of(api: Api, method: str, path: str, *, headers: dict[str, str] | None = None,
                   data: object = None) -> tuple[int, int, dict[str, str]]:
    """Status, Twilio code and headers; asserts the body is a complete Twilio error."""
    response = await api.http.request(method, api.url(path), headers=headers, data=data)
    body = await response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == response.status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    assert "Traceback" not in body["message"]
    return response.status, body["code"], dict(response.headers)


async def test_authentication_is_required_and_checked(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    path = api.siprec_path(call.sid)
    status, code, headers = await error_of(api, "GET", path)
    assert (status, code) == (401, 20003)
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    wrong = [
        basic(token=TOKEN + "x"),
        basic(token=""),
        basic(account=OTHER_ACCOUNT, token=TOKEN),  # a real account, someone else's token
        basic(account="AC" + "f" * 32),  # unknown account
        {"Authorization": "Bearer " + TOKEN},
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
    ]
    for headers_ in wrong:
        assert (await error_of(api, "GET", path, headers=headers_))[:2] == (401, 20003)
    ok = await api.http.get(api.url(path), headers=basic())
    assert ok.status == 200
    # the path's account must be the authenticated one
    status, code, _ = await error_of(api, "GET", api.siprec_path(call.sid, account=OTHER_ACCOUNT),
                                     headers=basic())
    assert (status, code) == (404, 20404)
    # another account sees neither the call nor its calls list entry
    other = basic(OTHER_ACCOUNT, OTHER_TOKEN)
    status, code, _ = await error_of(
        api, "GET", f"/2010-04-01/Accounts/{OTHER_ACCOUNT}/Calls/{call.sid}.json", headers=other)
    assert (status, code) == (404, 20404)
    listing = await api.http.get(api.url(f"/2010-04-01/Accounts/{OTHER_ACCOUNT}/Calls.json"),
                                 headers=other)
    assert (await listing.json())["calls"] == []


def test_authenticate_compares_tokens_without_leaking_them() -> None:
    accounts = {ACCOUNT: TOKEN}
    header = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert authenticate(header, accounts) == ACCOUNT
    with pytest.raises(TwilioError) as info:
        authenticate("Basic " + base64.b64encode(f"{ACCOUNT}:guess".encode()).decode(),
                     accounts)
    assert TOKEN not in str(info.value) and "guess" not in str(info.value)


async def test_every_bad_request_gets_its_status_and_a_twilio_body(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    call = api.calls.start(ACCOUNT)
    create = api.siprec_path(call.sid)
    auth = basic()
    cases: list[tuple[str, str, dict[str, str], object, int, int]] = [
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Parameter100.Name=x", 400, 31962),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Parameter0.Name=x", 400, 31962),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Parameter2.Value=x", 400, 31962),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Parameter1.Nom=x", 400, 31962),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Track=", 201, 0),
        ("POST", create, {**auth, "Content-Type": "application/json"},
         '{"ConnectorName": "srs1"}', 415, 31968),
        ("POST", create, {**auth, **FORM}, "Name=" + "x" * 70_000, 413, 31969),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Name=a%00b", 400, 31962),
        ("POST", create, {**auth, "Content-Type": FORM["Content-Type"] + "; charset=latin-9"},
         "ConnectorName=srs1", 400, 31962),
        ("POST", create, {**auth, "Content-Type": "multipart/form-data; boundary=zz"},
         "garbage", 400, 31962),
        ("POST", create, {**auth, "Content-Type": "multipart/form-data; boundary=zz"},
         '--zz\r\nContent-Disposition: form-data; name="ConnectorName"\r\n\r\nsrs1\r\n'
         "--zz--\r\n", 201, 0),
        ("POST", create, {**auth, **FORM}, "ConnectorName=srs1&Parameter1.Name=%ff", 400, 31962),
        ("GET", api.siprec_path(call.sid, "%ff%00"), auth, None, 404, 20404),
        ("GET", api.siprec_path("%ff"), auth, None, 404, 20404),
        ("PUT", create, auth, None, 405, 20004),
        ("DELETE", api.siprec_path(call.sid, "x"), auth, None, 405, 20004),
        ("POST", api.siprec_path(call.sid, "x"), {**auth, **FORM}, "Status=paused", 400, 31962),
        ("POST", api.siprec_path(call.sid, "x"), {**auth, **FORM}, "", 400, 31962),
        ("GET", api.siprec_path(call.sid, "nope"), auth, None, 404, 20404),
        ("GET", create + "?PageSize=0", auth, None, 400, 31962),
        ("GET", create + "?PageSize=1001", auth, None, 400, 31962),
        ("GET", create + "?Page=-1", auth, None, 400, 31962),
        ("GET", create + "?Page=abc", auth, None, 400, 31962),
        ("GET", api.siprec_path("CAnot-a-sid"), auth, None, 404, 20404),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?Status=dancing", auth, None, 400,
         31962),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?StartTime=yesterday", auth, None,
         400, 31962),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Nothing.json", auth, None, 404, 20404),
        ("GET", "/v1/Alerts?LogLevel=loud", auth, None, 400, 31962),
        ("GET", "/v1/Alerts?EndDate=2026-13-45", auth, None, 400, 31962),
        ("GET", "/v1/Alerts/NO" + "0" * 32, auth, None, 404, 20404),
        ("GET", "/nowhere", {}, None, 404, 20404),
    ]
    for method, path, headers, data, status, code in cases:
        if status == 201:
            response = await api.http.request(method, api.url(path), headers=headers,
                                              data=data)
            assert response.status == 201, (path, data)
            continue
        got = await error_of(api, method, path, headers=headers, data=data)
        assert got[:2] == (status, code), (method, path, data, got)
        if status == 405:
            assert "GET" in got[2]["Allow"]
    assert TOKEN not in caplog.text and OTHER_TOKEN not in caplog.text
    assert "Traceback" not in caplog.text
    metrics = await (await api.http.get(api.url("/metrics"))).text()
    assert 'src_client_api_responses_total{status="500"}' not in metrics


async def test_health_is_public(api: Api) -> None:
    response = await api.http.get(api.url("/healthz"))
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_a_bug_is_a_500_with_a_reference_not_a_traceback(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    call = api.calls.start(ACCOUNT)

    async def broken_hangup(call_sid: str) -> None:
        raise RuntimeError("internal detail " + TOKEN)

    api.calls.hangup = broken_hangup  # type: ignore[method-assign]
    response = await api.http.post(
        api.url(f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json"),
        headers={**basic(), **FORM}, data="Status=completed")
    body = await response.json()
    assert (response.status, body["code"], body["status"]) == (500, 20500, 500)
    assert "internal detail" not in body["message"] and TOKEN not in body["message"]
    reference = body["message"].rsplit(" ", 1)[-1].rstrip(")")
    assert any(reference in record.getMessage() for record in caplog.records
               if record.name == "src_client.api")
    healthy = await api.http.get(api.url(api.siprec_path(call.sid)), headers=basic())
    assert healthy.status == 200  # the server keeps serving


async def test_oversized_names_and_repeated_form_keys_are_refused(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    path = api.siprec_path(call.sid)
    headers = {**basic(), **FORM}
    cases = [
        ("ConnectorName=srs1&Name=" + "n" * 10_000, "Name"),
        ("ConnectorName=srs1&Parameter1.Name=p&Parameter1.Value=" + "v" * 5_000, "Parameter"),
        ("ConnectorName=srs1&Parameter1.Name=" + "p" * 300, "Parameter"),
        ("ConnectorName=srs1&Track=inbound_track&Track=both_tracks", "Track"),
        ("ConnectorName=srs1&ConnectorName=other", "ConnectorName"),
    ]
    for body, named in cases:
        response = await api.http.post(api.url(path), headers=headers, data=body)
        problem = await response.json()
        assert (response.status, problem["code"]) == (400, errors.INVALID_PARAMETER.code), body[:60]
        assert named in problem["message"], problem
    assert api.service.list(call.sid) == []  # nothing was started by any of them
