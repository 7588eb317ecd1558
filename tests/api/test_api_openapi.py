"""/openapi.json matches the routes, and live responses match /openapi.json; /metrics."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from typing import Any

from schema_check import check

from conftest import ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, Api, basic
from src_client.api.app import create_app

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _template(path: str) -> str:
    """aiohttp's {account}/{call}/{sid} placeholders under the OpenAPI names."""
    return (path.replace("{account}", "{AccountSid}").replace("{call}", "{CallSid}")
            .replace("{sid}", "{Sid}"))


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\{[A-Za-z]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not in the document")


async def test_document_and_router_describe_the_same_operations(api: Api) -> None:
    doc = await (await api.http.get(api.url("/openapi.json"))).json()
    assert doc["openapi"].startswith("3.0")
    app = create_app(accounts={}, service=api.service, store=api.store, calls=api.calls)
    served = {(route.method, _template(route.resource.canonical))
              for route in app.router.routes()
              if route.method != "HEAD" and route.resource is not None}
    documented = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    assert served == documented
    ids = [op["operationId"] for item in doc["paths"].values()
           for key, op in item.items() if key != "parameters"]
    assert len(ids) == len(set(ids))
    refs = set(_refs(doc))
    assert refs and refs <= {f"#/components/schemas/{name}"
                             for name in doc["components"]["schemas"]}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_live_responses_match_the_document(api: Api) -> None:
    doc = await (await api.http.get(api.url("/openapi.json"))).json()
    call = api.calls.start(ACCOUNT)
    auth = basic()
    requests: list[tuple[str, str, dict[str, str], str | None]] = [
        ("POST", api.siprec_path(call.sid), {**auth, **FORM},
         "ConnectorName=dead&Name=doc&Parameter1.Name=a&Parameter1.Value=b"),
        ("POST", api.siprec_path(call.sid), {**auth, **FORM}, "ConnectorName=srs1&Track=x"),
        ("POST", api.siprec_path(call.sid), {}, "ConnectorName=srs1"),
        ("POST", api.siprec_path(call.sid), {**auth, "Content-Type": "text/plain"}, "x"),
        ("POST", api.siprec_path(call.sid, "doc"), {**auth, **FORM}, "Status=stopped"),
        ("POST", api.siprec_path(call.sid, "doc"), {**auth, **FORM}, "Status=x"),
        ("GET", api.siprec_path(call.sid, "doc"), auth, None),
        ("GET", api.siprec_path(call.sid, "SR" + "1" * 32), auth, None),
        ("GET", api.siprec_path(call.sid) + "?PageSize=1", auth, None),
        ("GET", api.siprec_path("CA" + "2" * 32), auth, None),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", auth, None),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?PageSize=5000", auth, None),
        ("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json", auth, None),
        ("GET", f"/2010-04-01/Accounts/{OTHER_ACCOUNT}/Calls/{call.sid}.json",
         basic(OTHER_ACCOUNT, OTHER_TOKEN), None),
        ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json", {**auth, **FORM},
         "Twiml=%3CResponse%2F%3E"),
        ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json", {**auth, **FORM},
         "Status=completed"),
        ("GET", "/v1/Alerts", auth, None),
        ("GET", "/v1/Alerts?LogLevel=x", auth, None),
        ("GET", "/v1/Alerts/NO" + "3" * 32, auth, None),
        ("GET", "/healthz", {}, None),
        ("GET", "/openapi.json", {}, None),
    ]
    for method, path, headers, data in requests:
        response = await api.http.request(method, api.url(path), headers=headers, data=data)
        assert response.status < 500, (method, path)
        operation = _operation(doc, method, path.partition("?")[0])
        answers = operation["responses"]
        answer = answers.get(str(response.status), answers.get("default"))
        assert answer is not None, (method, path, response.status)
        assert response.content_type in answer["content"], (method, path)
        schema = answer["content"][response.content_type]["schema"]
        assert check(await response.json(), schema, doc) == [], (method, path)
    alerts = await (await api.http.get(api.url("/v1/Alerts"), headers=auth)).json()
    for alert in alerts["alerts"]:  # the failed "dead" recording, once it is reported
        assert check(alert, {"$ref": "#/components/schemas/Alert"}, doc) == []


async def test_schema_check_catches_mismatches(api: Api) -> None:
    doc = await (await api.http.get(api.url("/openapi.json"))).json()
    siprec = {"$ref": "#/components/schemas/Siprec"}
    good = {"sid": "SR" + "a" * 32, "account_sid": ACCOUNT, "call_sid": "CA" + "b" * 32,
            "name": None, "status": "stopped", "date_updated": "x", "uri": "/u"}
    assert check(good, siprec, doc) == []
    assert check({**good, "status": "paused"}, siprec, doc)
    assert check({**good, "sid": "XX"}, siprec, doc)
    assert check({**good, "uri": None}, siprec, doc)
    assert check({k: v for k, v in good.items() if k != "call_sid"}, siprec, doc)


async def test_metrics_expose_counters_in_prometheus_text(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    created = await api.http.post(api.url(api.siprec_path(call.sid)),
                                  headers={**basic(), **FORM},
                                  data="ConnectorName=srs1&Track=both_tracks&StatusCallback="
                                       + api.callbacks.url)
    sid = (await created.json())["sid"]
    await api.callbacks.wait_for("siprec-started", sid)
    text, samples = await scrape(api)
    assert samples["src_client_calls_active"] == 1
    assert samples["src_client_recordings_active"] == 1
    assert samples['src_client_recordings_total{outcome="started"}'] == 1
    assert samples["src_client_engine_forks"] == 2
    assert samples['src_client_api_responses_total{status="201"}'] == 1
    assert samples['src_client_callbacks_total{result="delivered"}'] >= 0
    types = dict(re.findall(r"# TYPE (\S+) (\S+)", text))
    assert all(kind == "counter" for name, kind in types.items() if name.endswith("_total"))
    stopped = await api.http.post(api.url(api.siprec_path(call.sid, sid)),
                                  headers={**basic(), **FORM}, data="Status=stopped")
    assert stopped.status == 200
    _, samples = await scrape(api)
    assert samples["src_client_recordings_active"] == 0
    assert samples['src_client_recordings_total{outcome="stopped"}'] == 1
    assert samples['src_client_srs_responses_total{code="200"}'] == 2  # INVITE and BYE
    assert samples["src_client_engine_forks"] == 0


async def test_metrics_count_rtp_refused_by_latching(api: Api) -> None:
    leg = api.calls.start(ACCOUNT).leg
    leg.set_remote("127.0.0.1", 4000)  # strict: only 127.0.0.1 may send to it
    key = 'src_client_rtp_refused_total{reason="foreign_address"}'
    _, before = await scrape(api)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as third_party:
        third_party.bind(("127.0.0.66", 0))
        third_party.sendto(struct.pack("!BBHII", 0x80, 0, 1, 0, 0x666) + bytes(160),
                           leg.local_address)  # fmt: skip
        for _ in range(100):
            if leg.stats().foreign_source:
                break
            await asyncio.sleep(0.02)
    _, after = await scrape(api)
    assert after[key] == before[key] + 1
    assert after['src_client_rtp_refused_total{reason="probation"}'] == 0


async def scrape(api: Api) -> tuple[str, dict[str, float]]:
    response = await api.http.get(api.url("/metrics"))
    assert response.content_type == "text/plain"
    text = await response.text()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) src_client_\w+ .+", line), line
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return text, samples
