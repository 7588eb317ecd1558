"""``/v1/Alerts``: the Debugger's records (failed recordings, callbacks given up on)."""

from __future__ import annotations

from aiohttp import web

from src_client.api.context import context
from src_client.api.forms import invalid, iso_range, page_request, v1_page
from src_client.api.lookup import account
from src_client.errors import ALERT_NOT_FOUND, TwilioError
from src_client.store.records import AlertQuery, LogLevel

LIST = "/v1/Alerts"
INSTANCE = "/v1/Alerts/{sid}"
routes = web.RouteTableDef()


def _base(request: web.Request) -> str:
    """Monitor's resources carry absolute URLs: ours are on the host the client used."""
    return f"{request.url.origin()}{LIST}"


@routes.get(LIST)
async def read(request: web.Request) -> web.Response:
    ctx = context(request)
    account_sid = account(request)
    query = request.query
    level = query.get("LogLevel") or None
    try:
        wanted = LogLevel(level) if level is not None else None
    except ValueError:
        raise invalid("LogLevel", "expected error, warning, notice or debug") from None
    paging = page_request(query)
    found = ctx.store.list_alerts(
        account_sid, AlertQuery(wanted, iso_range(query, "StartDate", "EndDate")),
        offset=paging.offset, limit=paging.page_size + 1)
    base = _base(request)
    items = [a.to_json(f"{base}/{a.sid}") for a in found[: paging.page_size]]
    return web.json_response(v1_page("alerts", items, len(found) > paging.page_size, base,
                                     query, paging))


@routes.get(INSTANCE)
async def fetch(request: web.Request) -> web.Response:
    ctx = context(request)
    account_sid = account(request)
    sid = request.match_info["sid"]
    alert = ctx.store.get_alert(sid)
    if alert is None or alert.account_sid != account_sid:
        raise TwilioError(ALERT_NOT_FOUND, sid=sid[:64])
    return web.json_response(alert.to_json(f"{_base(request)}/{sid}"))
