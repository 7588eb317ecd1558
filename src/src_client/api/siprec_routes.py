"""``/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Siprec`` (create, stop, fetch, list).

Create and stop go through :class:`~src_client.siprec.service.SiprecService`, which
validates and reports changes through its ``on_change`` hook (the daemon points it at the
store, so the change is committed before the response leaves). Reads come from the store,
which also holds the recordings of calls that ended or of an earlier run of the daemon.
"""

from __future__ import annotations

from aiohttp import web

from src_client import errors
from src_client.api.context import context
from src_client.api.forms import invalid, page_request, read_form, siprec_parameters, v2010_page
from src_client.api.lookup import account, find_call
from src_client.errors import TwilioError
from src_client.siprec.resource import SiprecResource, SiprecStatus

LIST = "/2010-04-01/Accounts/{account}/Calls/{call}/Siprec.json"
INSTANCE = "/2010-04-01/Accounts/{account}/Calls/{call}/Siprec/{sid}.json"
routes = web.RouteTableDef()


@routes.post(LIST)
async def create(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    form = await read_form(request)
    parameters = siprec_parameters(form)
    if call.live is None:
        assert call.record is not None
        raise TwilioError(errors.CALL_NOT_IN_PROGRESS, call_sid=call.sid,
                          status=call.record.status.value, operation="start a Siprec")
    resource = ctx.service.create(
        call.live,
        connector_name=form.get("ConnectorName"),
        name=form.get("Name"),
        track=form.get("Track"),
        status_callback=form.get("StatusCallback"),
        status_callback_method=form.get("StatusCallbackMethod"),
        parameters=parameters,
    )
    return web.json_response(resource.to_json(), status=201)


@routes.post(INSTANCE)
async def update(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    form = await read_form(request)
    status = form.get("Status")
    if status != SiprecStatus.STOPPED.value:
        raise invalid("Status", "required, and the only value accepted is 'stopped'")
    sid = request.match_info["sid"]
    try:
        resource = await ctx.service.stop(call.sid, sid)
    except TwilioError as exc:
        if exc.spec is not errors.SIPREC_NOT_FOUND:
            raise
        resource = _stored(request, call.sid, sid)  # from an earlier run: already stopped
    return web.json_response(resource.to_json())


@routes.get(INSTANCE)
async def fetch(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    sid = request.match_info["sid"]
    try:
        resource = ctx.service.get(call.sid, sid)
    except TwilioError as exc:
        if exc.spec is not errors.SIPREC_NOT_FOUND:
            raise
        resource = _stored(request, call.sid, sid)
    return web.json_response(resource.to_json())


@routes.get(LIST)
async def read(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    paging = page_request(request.query)
    found = ctx.store.list_siprec(call.sid, offset=paging.offset, limit=paging.page_size + 1)
    items = [r.to_json() for r in found[: paging.page_size]]
    return web.json_response(v2010_page("siprec", items, len(found) > paging.page_size,
                                        request.path, request.query, paging))


def _stored(request: web.Request, call_sid: str, sid: str) -> SiprecResource:
    resource = context(request).store.get_siprec(call_sid, sid)
    if resource is None:
        raise TwilioError(errors.SIPREC_NOT_FOUND, sid=sid[:64], call_sid=call_sid)
    return resource
